#include <bit>

#include "verity/verity.h"

namespace basalt::verity {

static bool BlockSizeOk(uint32_t size) {
  return size >= kMinBlockSize && size <= kMaxBlockSize && std::has_single_bit(size);
}

Result<TreeGeometry> ComputeGeometry(const VerityParams& p) {
  if (!BlockSizeOk(p.data_block_size)) {
    return Failf(ErrorKind::kInvalidInput,
                 "data block size {} is invalid: it must be a power of two from {} to {}",
                 p.data_block_size, kMinBlockSize, kMaxBlockSize);
  }
  if (!BlockSizeOk(p.hash_block_size)) {
    return Failf(ErrorKind::kInvalidInput,
                 "hash block size {} is invalid: it must be a power of two from {} to {}",
                 p.hash_block_size, kMinBlockSize, kMaxBlockSize);
  }
  if (p.salt.size() > kMaxSaltSize) {
    return Failf(ErrorKind::kInvalidInput, "salt is {} bytes; at most {} bytes are allowed",
                 p.salt.size(), kMaxSaltSize);
  }
  if (p.data_blocks == 0) {
    return Fail(ErrorKind::kInvalidInput, "data area is empty (0 data blocks)");
  }
  const uint64_t max_blocks = UINT64_MAX / p.data_block_size;
  if (p.data_blocks > max_blocks) {
    return Failf(ErrorKind::kInvalidInput, "{} data blocks of {} bytes overflow a 64-bit size",
                 p.data_blocks, p.data_block_size);
  }
  if (p.superblock) {
    if (p.hash_offset % 512 != 0) {
      return Failf(ErrorKind::kInvalidInput, "hash offset {} is not a multiple of 512 bytes",
                   p.hash_offset);
    }
  } else if (p.hash_offset % p.hash_block_size != 0) {
    // The kernel addresses the tree in hash blocks; there is no superblock to round up after.
    return Failf(ErrorKind::kInvalidInput,
                 "hash offset {} is not a multiple of the hash block size {} (needed without a "
                 "superblock)",
                 p.hash_offset, p.hash_block_size);
  }

  TreeGeometry g;
  g.block_size = p.hash_block_size;
  g.digest_size = static_cast<uint32_t>(HashDigestSize(p.algorithm));
  g.digest_slot_size = std::bit_ceil(g.digest_size);
  // Rounding hash_block_size/digest_size down to a power of two always gives exactly
  // hash_block_size/digest_slot_size (both powers of two), so slots tile a block with no tail.
  g.hashes_per_block = p.hash_block_size / g.digest_slot_size;
  const uint32_t bits = static_cast<uint32_t>(std::countr_zero(g.hashes_per_block));

  uint32_t levels = 0;
  while (bits * levels < 64 && ((p.data_blocks - 1) >> (bits * levels)) != 0)
    ++levels;
  g.levels = levels;
  g.level_first_block.assign(levels, 0);
  g.level_blocks.assign(levels, 0);
  uint64_t position = 0;
  for (int i = static_cast<int>(levels) - 1; i >= 0; --i) {
    const uint32_t shift = bits * static_cast<uint32_t>(i + 1);
    uint64_t count = shift >= 64 ? 1 : ((p.data_blocks - 1) >> shift) + 1;
    g.level_first_block[i] = position;
    g.level_blocks[i] = count;
    position += count;  // cannot overflow: count <= data_blocks / 2^shift
  }
  g.tree_blocks = position;

  uint64_t tree_start = p.hash_offset;
  if (p.superblock) {
    // The tree starts at the first hash block boundary after the superblock.
    const uint64_t after = p.hash_offset + kSuperblockSize;
    if (after < p.hash_offset) return Fail(ErrorKind::kInvalidInput, "hash offset overflows");
    tree_start = (after + p.hash_block_size - 1) / p.hash_block_size * p.hash_block_size;
    if (tree_start < after) return Fail(ErrorKind::kInvalidInput, "hash offset overflows");
  }
  g.tree_offset = tree_start;
  if (g.tree_blocks > (UINT64_MAX - tree_start) / p.hash_block_size) {
    return Failf(ErrorKind::kInvalidInput, "hash tree at offset {} overflows a 64-bit size",
                 p.hash_offset);
  }
  g.hash_area_size = tree_start + g.tree_blocks * p.hash_block_size - p.hash_offset;
  return g;
}

}  // namespace basalt::verity
