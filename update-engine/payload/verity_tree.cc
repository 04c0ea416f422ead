#include "update-engine/payload/verity_tree.h"

#include <unistd.h>

#include <algorithm>

#include "common/fd.h"
#include "common/hash.h"

namespace basalt::payload {

Result<std::vector<uint8_t>> RebuildVerityTree(int fd, const proto::VerityParams& p) {
  BASALT_ASSIGN_OR_RETURN(HashAlgorithm alg, ParseHashAlgorithm(p.hash_algorithm()));
  const uint64_t bs = p.hash_block_size();
  const size_t digest = HashDigestSize(alg);
  size_t entry = 1;
  while (entry < digest)
    entry <<= 1;  // entries are padded to a power of two
  const uint64_t per_block = bs / entry;

  // Level sizes, bottom (level 0 hashes the data) to top.
  std::vector<uint64_t> level_blocks;
  uint64_t n = p.data_blocks();
  do {
    n = (n + per_block - 1) / per_block;
    level_blocks.push_back(n);
  } while (n > 1);
  // Stored top level first.
  std::vector<uint64_t> level_offset(level_blocks.size());
  uint64_t off = p.hash_offset() + (p.has_superblock() ? bs : 0);
  for (size_t i = level_blocks.size(); i-- > 0;) {
    level_offset[i] = off;
    off += level_blocks[i] * bs;
  }

  Hasher salted(alg);
  salted.Update(std::span(reinterpret_cast<const uint8_t*>(p.salt().data()), p.salt().size()));
  Hasher h(alg);
  auto hash_blocks = [&](std::span<const uint8_t> blocks, std::vector<uint8_t>& level,
                         uint64_t first_index) {
    for (size_t i = 0; i * bs < blocks.size(); ++i) {
      h.CopyStateFrom(salted);
      h.Update(blocks.subspan(i * bs, bs));
      h.Final(level.data() + (first_index + i) * entry);
    }
  };

  std::vector<uint8_t> level(level_blocks[0] * bs, 0);
  std::vector<uint8_t> buf(4 << 20);
  for (uint64_t b = 0; b < p.data_blocks();) {
    uint64_t count = std::min<uint64_t>(buf.size() / bs, p.data_blocks() - b);
    std::span<uint8_t> chunk(buf.data(), count * bs);
    BASALT_RETURN_IF_ERROR(PreadFull(fd, chunk, b * bs, "read data for the verity tree"));
    hash_blocks(chunk, level, b);
    b += count;
  }
  for (size_t i = 0;; ++i) {
    BASALT_RETURN_IF_ERROR(PwriteFull(fd, level, level_offset[i], "write verity tree"));
    if (i + 1 == level_blocks.size()) break;
    std::vector<uint8_t> upper(level_blocks[i + 1] * bs, 0);
    hash_blocks(level, upper, 0);
    level = std::move(upper);
  }
  std::vector<uint8_t> root(digest);
  h.CopyStateFrom(salted);
  h.Update(level);
  h.Final(root.data());
  if (fsync(fd) != 0) return FailErrno("fsync after writing the verity tree");
  return root;
}

}  // namespace basalt::payload
