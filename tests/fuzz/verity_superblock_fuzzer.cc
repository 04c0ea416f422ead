// Superblock and geometry parsing on hostile bytes. Input: a superblock (first 512 bytes),
// optionally followed by an 8-byte little-endian hash offset and a flag byte (no superblock).
// Every accepted superblock must round-trip and describe a consistent tree layout.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "verity/verity.h"

using basalt::verity::ComputeGeometry;
using basalt::verity::kSuperblockSize;
using basalt::verity::ParseSuperblock;
using basalt::verity::SerializeSuperblock;
using basalt::verity::TreeGeometry;
using basalt::verity::VerityParams;

static void Check(bool ok) {
  if (!ok) std::abort();
}

static void CheckGeometry(const VerityParams& p, const TreeGeometry& g) {
  Check(g.levels < 64);
  Check(g.level_blocks.size() == g.levels && g.level_first_block.size() == g.levels);
  uint64_t total = 0;
  for (uint32_t i = 0; i < g.levels; ++i) {
    total += g.level_blocks[i];
    if (i + 1 < g.levels) Check(g.level_first_block[i] > g.level_first_block[i + 1]);
  }
  if (g.levels > 0)
    Check(g.level_blocks[g.levels - 1] == 1 && g.level_first_block[g.levels - 1] == 0);
  Check(total == g.tree_blocks);
  Check(g.tree_offset >= p.hash_offset);
  if (p.superblock) Check(g.tree_offset % p.hash_block_size == 0);
  Check(g.hash_area_size == g.tree_offset - p.hash_offset + g.tree_blocks * p.hash_block_size);
  Check(g.digest_slot_size * g.hashes_per_block == p.hash_block_size);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  auto parsed = ParseSuperblock(in);
  if (parsed) {
    VerityParams p = *parsed;
    auto again = ParseSuperblock(SerializeSuperblock(p));
    Check(again.has_value() && *again == p);
    if (size >= kSuperblockSize + 8) {
      uint64_t off = 0;
      for (int i = 0; i < 8; ++i)
        off |= uint64_t{data[kSuperblockSize + i]} << (8 * i);
      p.hash_offset = off;
      if (size >= kSuperblockSize + 9) p.superblock = (data[kSuperblockSize + 8] & 1) == 0;
    }
    auto g = ComputeGeometry(p);
    if (g) CheckGeometry(p, *g);
    return 0;
  }
  // Not a superblock: read raw geometry fields instead, so the geometry rules see junk too.
  if (size >= 25) {
    VerityParams p;
    std::memcpy(&p.data_block_size, data, 4);
    std::memcpy(&p.hash_block_size, data + 4, 4);
    std::memcpy(&p.data_blocks, data + 8, 8);
    std::memcpy(&p.hash_offset, data + 16, 8);
    p.superblock = data[24] & 1;
    const basalt::HashAlgorithm algs[] = {basalt::HashAlgorithm::kSha1,
                                          basalt::HashAlgorithm::kSha256,
                                          basalt::HashAlgorithm::kSha512};
    p.algorithm = algs[(data[24] >> 1) % 3];
    p.salt.assign(data + 25, data + size);
    auto g = ComputeGeometry(p);
    if (g) CheckGeometry(p, *g);
  }
  return 0;
}
