// The one place the image builder turns a filesystem image into "filesystem + dm-verity tree"
// (Flatcar layout: the tree, with its superblock, starts right after the data in the same file).
// Kept to a single call over Basalt's verity engine (verity/verity.h), whose trees
// `veritysetup verify` accepts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace basalt::image {

struct VerityResult {
  std::string root_hash;  // hex
  std::string salt;       // hex
  std::string uuid;
  uint64_t data_blocks = 0;
  uint64_t hash_offset = 0;  // bytes; == data size
  uint64_t size = 0;         // bytes of the whole file after appending
};

// `path` holds data_size bytes (a multiple of 4096). Appends the sha256 / 4096-byte hash tree
// with a veritysetup-compatible superblock and returns its parameters.
Result<VerityResult> AppendVerityTree(const std::string& path, uint64_t data_size,
                                      const std::vector<uint8_t>& salt, const std::string& uuid);

}  // namespace basalt::image
