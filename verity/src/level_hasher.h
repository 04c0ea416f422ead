// Hashes one tree level in parallel: every input block (a data block, or a hash block of the
// level below) becomes one digest slot of the output level. Internal to basalt_verity.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "common/error.h"
#include "files.h"
#include "verity/verity.h"

namespace basalt::verity {

// Bytes of input each worker reads and hashes at a time. Small enough that the block is still in
// the core's L2 cache when it is hashed right after the read copied it there.
inline constexpr size_t kChunkBytes = 256 * 1024;
// With a mapped input there is no copy to keep in cache; larger windows mean fewer
// mmap/munmap calls (each munmap interrupts the other workers to flush their TLBs).
inline constexpr size_t kMappedChunkBytes = 4 * 1024 * 1024;

struct LevelIo {
  int in_fd = -1;
  uint64_t in_offset = 0;
  uint32_t in_block_size = 0;
  uint64_t in_blocks = 0;
  std::string_view in_name;
  // Read the input through a mapping instead of pread (see docs/verity.md for when).
  bool map_input = false;
  int out_fd = -1;
  uint64_t out_offset = 0;  // byte offset of the first digest slot of the output level
  std::string_view out_name;
};

// The input and output of building or checking `level`: level 0 reads the data, each level above
// reads the level below it in the hash area.
LevelIo LevelIoFor(const VerityParams& params, const TreeGeometry& geometry, const TreeFiles& files,
                   int hash_fd, uint32_t level);

// hash(salt || block) with the salted prefix hashed once per worker.
class SaltedHasher {
 public:
  SaltedHasher(HashAlgorithm alg, std::span<const uint8_t> salt);
  size_t digest_size() const { return prefix_.digest_size(); }
  void Hash(std::span<const uint8_t> block, uint8_t* out);

 private:
  Hasher prefix_;
  Hasher work_;
};

// Writes the digest slots of the output level (digest + zero padding to the slot size). The
// zero tail of the level's last hash block is the caller's job.
Status WriteLevel(const VerityParams& params, const TreeGeometry& geometry, const LevelIo& io,
                  unsigned threads);

struct LevelCheck {
  std::optional<uint64_t> first_bad_block;    // first input block whose digest differs
  std::optional<uint64_t> first_bad_padding;  // first slot whose padding is not zero
};

// Compares the digest of every input block with the (already trusted) output level.
Result<LevelCheck> CheckLevel(const VerityParams& params, const TreeGeometry& geometry,
                              const LevelIo& io, unsigned threads);

unsigned DefaultThreads();

}  // namespace basalt::verity
