// Sizes read from filesystem superblocks: where the erofs image ends (and so where the appended
// dm-verity hash area starts), and how big an ext4 filesystem is (to know whether ROOT still
// needs resize2fs after its partition grew).
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace basalt::init {

// Bytes covered by the erofs image at the start of `device`: blocks << blkszbits.
Result<uint64_t> ErofsImageSize(const std::string& device);
Result<uint64_t> Ext4Size(const std::string& device);
// True if a dm-verity superblock ("verity\0\0") starts at `offset`.
Result<bool> HasVeritySuperblock(const std::string& device, uint64_t offset);

}  // namespace basalt::init
