// An image directory as `basalt image build` writes it: usr.img (erofs + dm-verity hash area
// in one file) and image.json describing it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/hash.h"

namespace basalt::payload {

// A slot's signed Unified Kernel Image as image.json describes it; the file is checked against
// size and sha256 when it is read (ReadUkiFile).
struct UkiFile {
  std::string slot;  // "A" or "B"
  std::string path;  // <dir>/<file>
  uint64_t size = 0;
  Sha256Digest sha256{};
};

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
  // image.json's `uki` (uki boot backend images): each slot's signed UKI, "A" then "B".
  std::vector<UkiFile> ukis;
};

// Reads and checks image.json (fields, sizes against usr.img on disk). Does not hash usr.img or
// the UKIs.
Result<UsrImageInfo> LoadImageDir(const std::string& dir);

// The UKI's bytes, refused unless they are the size and SHA-256 image.json gives.
Result<std::vector<uint8_t>> ReadUkiFile(const UkiFile& uki);

}  // namespace basalt::payload
