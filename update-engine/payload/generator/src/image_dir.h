// An image directory as `basalt image build` writes it: usr.img (erofs + dm-verity hash area
// in one file) and image.json describing it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/hash.h"

namespace basalt::payload {

struct UsrImageInfo {
  std::string path;  // <dir>/usr.img
  std::string version;
  std::vector<uint8_t> root_hash;
  std::vector<uint8_t> salt;
  std::string hash_algorithm;
  uint32_t data_block_size = 0;
  uint32_t hash_block_size = 0;
  uint64_t data_blocks = 0;
  uint64_t hash_offset = 0;
  uint64_t size = 0;
  Sha256Digest sha256{};
};

// Reads and checks image.json (fields, sizes against usr.img on disk). Does not hash usr.img.
Result<UsrImageInfo> LoadImageDir(const std::string& dir);

}  // namespace basalt::payload
