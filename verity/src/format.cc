#include <openssl/rand.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "files.h"
#include "level_hasher.h"
#include "verity/verity.h"

namespace basalt::verity {
namespace {

Result<VerityParams> ChooseParams(const FormatOptions& o, const TreeFiles& files) {
  VerityParams p;
  p.algorithm = o.algorithm;
  p.data_block_size = o.data_block_size;
  p.hash_block_size = o.hash_block_size;
  p.superblock = o.superblock;
  // Validate block sizes before dividing by them.
  {
    VerityParams probe = p;
    probe.data_blocks = 1;
    BASALT_RETURN_IF_ERROR(ComputeGeometry(probe));
  }
  if (o.data_blocks) {
    p.data_blocks = *o.data_blocks;
    if (p.data_blocks == 0) return Fail(ErrorKind::kInvalidInput, "--data-blocks must be > 0");
    if (p.data_blocks > files.data_size / p.data_block_size) {
      return Failf(ErrorKind::kInvalidInput,
                   "{} has {} bytes, fewer than the {} data blocks of {} bytes requested",
                   files.data_name, files.data_size, p.data_blocks, p.data_block_size);
    }
  } else {
    if (files.data_size % p.data_block_size != 0) {
      return Failf(ErrorKind::kInvalidInput,
                   "size of {} ({} bytes) is not a multiple of the data block size {}; pad it or "
                   "give --data-blocks",
                   files.data_name, files.data_size, p.data_block_size);
    }
    p.data_blocks = files.data_size / p.data_block_size;
  }
  if (o.salt) {
    p.salt = *o.salt;
  } else if (o.seed) {
    p.salt = SaltFromSeed(*o.seed);
  } else {
    p.salt.resize(32);
    if (RAND_bytes(p.salt.data(), static_cast<int>(p.salt.size())) != 1) std::abort();
  }
  if (!p.superblock) {
    p.uuid = {};
  } else if (o.uuid) {
    p.uuid = *o.uuid;
  } else if (o.seed) {
    p.uuid = UuidFromSeed(*o.seed);
  } else {
    p.uuid = RandomUuid();
  }
  p.hash_offset = o.hash_offset  ? *o.hash_offset
                  : files.shared ? p.data_blocks * p.data_block_size
                                 : 0;
  return p;
}

Status WriteZeros(int fd, uint64_t offset, uint64_t length, std::string_view what) {
  std::vector<uint8_t> zeros(std::min<uint64_t>(length, 1 << 16), 0);
  while (length > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(length, zeros.size()));
    BASALT_RETURN_IF_ERROR(PwriteFull(fd, std::span(zeros.data(), n), offset, what));
    offset += n;
    length -= n;
  }
  return {};
}

// Level 0 from digests the caller computed: each one in its slot, zero-padded.
Status WriteLevelFromDigests(std::span<const uint8_t> digests, const TreeGeometry& g,
                             const LevelIo& io) {
  const uint64_t slot = g.digest_slot_size;
  std::vector<uint8_t> buf(std::min<uint64_t>(io.in_blocks, 8192) * slot, 0);
  const uint64_t per_buf = buf.size() / slot;
  for (uint64_t first = 0; first < io.in_blocks; first += per_buf) {
    const uint64_t n = std::min(per_buf, io.in_blocks - first);
    for (uint64_t i = 0; i < n; ++i) {
      std::memcpy(buf.data() + i * slot, digests.data() + (first + i) * g.digest_size,
                  g.digest_size);
    }
    BASALT_RETURN_IF_ERROR(PwriteFull(io.out_fd, std::span(buf.data(), n * slot),
                                      io.out_offset + first * slot, io.out_name));
  }
  return {};
}

}  // namespace

Result<FormatResult> Format(const FormatOptions& o) {
  BASALT_ASSIGN_OR_RETURN(TreeFiles files, OpenTreeFiles(o.data_path, o.hash_path, true));
  BASALT_ASSIGN_OR_RETURN(VerityParams p, ChooseParams(o, files));
  BASALT_ASSIGN_OR_RETURN(TreeGeometry g, ComputeGeometry(p));
  BASALT_RETURN_IF_ERROR(CheckNoOverlap(files, p, g));
  const uint64_t hash_end = p.hash_offset + g.hash_area_size;
  if (files.hash_is_block_device && hash_end > files.hash_size) {
    return Failf(ErrorKind::kInvalidInput,
                 "{} is too small for the hash area: it needs {} bytes up to offset {}, the device "
                 "has {}",
                 files.hash_name, g.hash_area_size, hash_end, files.hash_size);
  }
  const unsigned threads = o.threads ? o.threads : DefaultThreads();
  if (!o.data_digests.empty() && o.data_digests.size() != p.data_blocks * g.digest_size) {
    return Failf(ErrorKind::kInvalidInput,
                 "{} bytes of data digests for {} blocks of {}-byte digests", o.data_digests.size(),
                 p.data_blocks, g.digest_size);
  }
  const int hash_fd = files.hash_fd();
  const uint64_t slot = g.digest_slot_size;

  FormatResult result;
  result.root_hash.resize(g.digest_size);
  SaltedHasher root_hasher(p.algorithm, p.salt);
  if (g.levels == 0) {
    std::vector<uint8_t> block(p.data_block_size);
    BASALT_RETURN_IF_ERROR(PreadFull(files.data.get(), block, 0, files.data_name));
    root_hasher.Hash(block, result.root_hash.data());
  }
  // Bottom-up: level 0 from the data, each level above from the one just written. Reading
  // back our own writes keeps memory bounded; the upper levels are 1/hashes_per_block the size.
  for (uint32_t level = 0; level < g.levels; ++level) {
    const LevelIo io = LevelIoFor(p, g, files, hash_fd, level);
    if (level == 0 && !o.data_digests.empty()) {
      BASALT_RETURN_IF_ERROR(WriteLevelFromDigests(o.data_digests, g, io));
    } else {
      BASALT_RETURN_IF_ERROR(WriteLevel(p, g, io, threads));
    }
    const uint64_t used = io.in_blocks * slot;
    const uint64_t total = g.level_blocks[level] * p.hash_block_size;
    BASALT_RETURN_IF_ERROR(
        WriteZeros(hash_fd, io.out_offset + used, total - used, files.hash_name));
  }
  if (g.levels > 0) {
    std::vector<uint8_t> top(p.hash_block_size);
    BASALT_RETURN_IF_ERROR(PreadFull(hash_fd, top, g.tree_offset, files.hash_name));
    root_hasher.Hash(top, result.root_hash.data());
  }
  if (p.superblock) {
    auto sb = SerializeSuperblock(p);
    BASALT_RETURN_IF_ERROR(WriteZeros(hash_fd, p.hash_offset + kSuperblockSize,
                                      g.tree_offset - p.hash_offset - kSuperblockSize,
                                      files.hash_name));
    BASALT_RETURN_IF_ERROR(PwriteFull(hash_fd, sb, p.hash_offset, files.hash_name));
  }
  if (::fdatasync(hash_fd) != 0) return FailErrno(fmt::format("fdatasync {}", files.hash_name));
  result.params = std::move(p);
  result.geometry = std::move(g);
  return result;
}

}  // namespace basalt::verity
