// What `release publish` needs from a `basalt image build` output directory (usr.img,
// image.json, sbom.spdx.json). image.json is our own build output, so unknown fields are
// tolerated (the image format may grow), but every field used here must be present and typed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "attest/uki_measurements.h"
#include "common/error.h"

namespace basalt::repo {

// A slot's signed UKI in the image directory (image.json's `uki`, uki boot backend images).
struct UkiFileInfo {
  std::string file;  // relative to dir
  uint64_t size = 0;
  std::string sha256;  // lower-case hex
  // What booting it measures (image.json's uki.<slot>.measurements); absent in image
  // directories built before it was recorded.
  std::optional<attest::UkiMeasurements> measurements = {};
};

struct ImageInfo {
  std::string dir;
  std::string version;
  std::string usr_root_hash;
  std::string usr_salt;
  std::string usr_hash_algorithm;
  uint64_t usr_data_block_size = 0;
  uint64_t usr_hash_block_size = 0;
  uint64_t usr_data_blocks = 0;
  uint64_t usr_hash_offset = 0;
  uint64_t usr_size = 0;  // bytes of usr.img: data, then the hash area
  std::string kernel_version;
  std::string kernel_sha256;
  std::optional<std::string> kernel_cmdline;  // absent in images built before it was recorded
  std::string sbom_path;                      // relative to dir
  std::string sbom_sha256;
  std::string input_digest;
  std::map<std::string, UkiFileInfo> uki;  // by slot, "A" and "B"; empty for other backends
};

Result<ImageInfo> LoadImageInfo(const std::string& image_dir);

}  // namespace basalt::repo
