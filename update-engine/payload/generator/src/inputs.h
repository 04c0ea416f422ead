// The generator's inputs: the new (and for a delta the old) image directory, checked and mapped.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "common/error.h"
#include "common/mapped_file.h"
#include "image_dir.h"
#include "payload/generator.h"

namespace basalt::payload {

struct Inputs {
  UsrImageInfo new_info;
  std::optional<UsrImageInfo> old_info;  // deltas only
  MappedFile new_map, old_map;
  std::span<const uint8_t> new_bytes, old_bytes;  // the mapped usr.img files; old empty for full
  // Blocks the operations write (the erofs and the verity superblock, not the tree), and read.
  uint64_t shipped_blocks = 0;
  uint64_t old_shipped_blocks = 0;
  bool has_superblock = false;  // the new image has a veritysetup superblock at its hash offset

  bool is_delta() const { return old_info.has_value(); }
};

// Loads image.json of each directory and maps usr.img. Does not hash them (see CheckImageHash).
Result<Inputs> LoadInputs(const GenerateOptions& options);

// Whether `bytes` are the usr.img `info` describes (image.json's SHA-256 goes into the signed
// manifest).
Status CheckImageHash(const UsrImageInfo& info, std::span<const uint8_t> bytes);

}  // namespace basalt::payload
