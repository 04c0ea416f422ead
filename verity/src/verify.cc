#include <algorithm>
#include <cstring>

#include "common/hex.h"
#include "files.h"
#include "level_hasher.h"
#include "verity/verity.h"

namespace basalt::verity {
namespace {

std::unexpected<Error> Corrupt(const VerifyOptions& o, Corruption c, std::string message) {
  if (o.corruption) *o.corruption = c;
  return std::unexpected(Error(ErrorKind::kIntegrity, std::move(message)));
}

Result<VerityParams> LoadParams(const VerifyOptions& o, const TreeFiles& files) {
  if (o.params && !o.params->superblock) {
    VerityParams p = *o.params;
    if (o.hash_offset) p.hash_offset = *o.hash_offset;
    return p;
  }
  if (!o.hash_offset && files.shared) {
    return Fail(ErrorKind::kInvalidInput,
                "the hash tree shares the data file: give the hash offset (--hash-offset)");
  }
  return ReadSuperblock(files.hash_name, o.hash_offset.value_or(0));
}

// Level tails and the gap after the superblock must be zero, as veritysetup verify demands.
Status CheckZeros(const VerifyOptions& o, int fd, uint64_t offset, uint64_t length,
                  const std::string& name, Corruption where) {
  std::vector<uint8_t> buf(std::min<uint64_t>(length, 1 << 16));
  uint64_t pos = offset;
  while (pos < offset + length) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), offset + length - pos));
    BASALT_RETURN_IF_ERROR(PreadFull(fd, std::span(buf.data(), n), pos, name));
    auto it = std::find_if(buf.begin(), buf.begin() + static_cast<long>(n),
                           [](uint8_t b) { return b != 0; });
    if (it != buf.begin() + static_cast<long>(n)) {
      return Corrupt(o, where,
                     fmt::format("{}: spare area is not zeroed at byte offset {} (hash block {})",
                                 name, pos + static_cast<uint64_t>(it - buf.begin()), where.block));
    }
    pos += n;
  }
  return {};
}

}  // namespace

Result<VerityParams> Verify(const VerifyOptions& o) {
  BASALT_ASSIGN_OR_RETURN(TreeFiles files, OpenTreeFiles(o.data_path, o.hash_path, false));
  BASALT_ASSIGN_OR_RETURN(VerityParams p, LoadParams(o, files));
  BASALT_ASSIGN_OR_RETURN(TreeGeometry g, ComputeGeometry(p));
  BASALT_RETURN_IF_ERROR(CheckNoOverlap(files, p, g));
  if (o.root_hash.size() != g.digest_size) {
    return Failf(ErrorKind::kInvalidInput, "root hash is {} bytes; {} digests are {} bytes",
                 o.root_hash.size(), HashAlgorithmName(p.algorithm), g.digest_size);
  }
  const uint64_t data_bytes = p.data_blocks * p.data_block_size;
  if (files.data_size < data_bytes) {
    return Failf(ErrorKind::kInvalidInput,
                 "{} is truncated: {} bytes, but the tree covers {} data blocks ({} bytes)",
                 files.data_name, files.data_size, p.data_blocks, data_bytes);
  }
  const uint64_t hash_end = p.hash_offset + g.hash_area_size;
  if (files.hash_size < hash_end) {
    return Failf(ErrorKind::kInvalidInput,
                 "hash area in {} is truncated: it needs {} bytes up to offset {}, the file has {}",
                 files.hash_name, g.hash_area_size, hash_end, files.hash_size);
  }
  const unsigned threads = o.threads ? o.threads : DefaultThreads();
  const int hash_fd = files.hash_fd();
  SaltedHasher hasher(p.algorithm, p.salt);
  std::vector<uint8_t> digest(g.digest_size);

  if (g.levels == 0) {
    std::vector<uint8_t> block(p.data_block_size);
    BASALT_RETURN_IF_ERROR(PreadFull(files.data.get(), block, 0, files.data_name));
    hasher.Hash(block, digest.data());
    if (digest != o.root_hash) {
      return Corrupt(o, {Corruption::Area::kData, 0, 0, 0},
                     fmt::format("{}: data block 0 (the only one) does not match the root hash "
                                 "(corrupt data or wrong root hash)",
                                 files.data_name));
    }
    return p;
  }

  if (p.superblock) {
    const uint64_t gap = g.tree_offset - p.hash_offset - kSuperblockSize;
    BASALT_RETURN_IF_ERROR(
        CheckZeros(o, hash_fd, p.hash_offset + kSuperblockSize, gap, files.hash_name,
                   {Corruption::Area::kHash, 0, g.levels - 1, p.hash_offset + kSuperblockSize}));
  }
  std::vector<uint8_t> top(p.hash_block_size);
  BASALT_RETURN_IF_ERROR(PreadFull(hash_fd, top, g.tree_offset, files.hash_name));
  hasher.Hash(top, digest.data());
  if (digest != o.root_hash) {
    return Corrupt(o, {Corruption::Area::kHash, 0, g.levels - 1, g.tree_offset},
                   fmt::format("{}: the top-level hash block at byte offset {} does not match the "
                               "root hash {} (corrupt hash block or wrong root hash)",
                               files.hash_name, g.tree_offset, ToHex(o.root_hash)));
  }
  // Each level is trusted once its parent is, so walk down: level L-1 (checked against the
  // root above) vouches for level L-2, ..., level 0 vouches for the data.
  for (int level = static_cast<int>(g.levels) - 1; level >= 0; --level) {
    const uint32_t lv = static_cast<uint32_t>(level);
    const uint64_t used = (lv == 0 ? p.data_blocks : g.level_blocks[lv - 1]) * g.digest_slot_size;
    const uint64_t tail = g.level_blocks[lv] * p.hash_block_size - used;
    const uint64_t last_block = g.level_first_block[lv] + g.level_blocks[lv] - 1;
    BASALT_RETURN_IF_ERROR(
        CheckZeros(o, hash_fd, g.LevelOffset(lv) + used, tail, files.hash_name,
                   {Corruption::Area::kHash, last_block, lv, g.LevelOffset(lv) + used}));
    const LevelIo io = LevelIoFor(p, g, files, hash_fd, lv);
    BASALT_ASSIGN_OR_RETURN(LevelCheck check, CheckLevel(p, g, io, threads));
    // A mismatch wins over bad padding: workers skip chunks past the first mismatch, so only
    // that report is deterministic when both exist.
    if (check.first_bad_padding && !check.first_bad_block) {
      const uint64_t slot = *check.first_bad_padding;
      const uint64_t at = io.out_offset + slot * g.digest_slot_size + g.digest_size;
      const uint64_t block = g.level_first_block[lv] + slot / g.hashes_per_block;
      return Corrupt(o, {Corruption::Area::kHash, block, lv, at},
                     fmt::format("{}: spare area is not zeroed at byte offset {} (hash block {})",
                                 files.hash_name, at, block));
    }
    if (check.first_bad_block) {
      const uint64_t i = *check.first_bad_block;
      const uint64_t at = io.in_offset + i * io.in_block_size;
      if (lv == 0) {
        return Corrupt(o, {Corruption::Area::kData, i, 0, at},
                       fmt::format("{}: data block {} (byte offset {}) is corrupt: its hash does "
                                   "not match the hash tree",
                                   files.data_name, i, at));
      }
      const uint64_t block = g.level_first_block[lv - 1] + i;
      return Corrupt(o, {Corruption::Area::kHash, block, lv - 1, at},
                     fmt::format("{}: hash block {} (level {} of {}, byte offset {}) is corrupt",
                                 files.hash_name, block, lv - 1, g.levels, at));
    }
  }
  return p;
}

}  // namespace basalt::verity
