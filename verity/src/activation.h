// Activating and removing dm-verity devices through libcryptsetup.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "verity/verity.h"

namespace basalt::verity {

enum class OnCorruption { kEio, kRestart, kPanic, kIgnore };

struct OpenOptions {
  std::string name;  // /dev/mapper/<name>
  std::string data_path;
  std::string hash_path;  // empty: the tree shares the data device
  std::optional<uint64_t> hash_offset;
  std::vector<uint8_t> root_hash;
  // PKCS#7 signature of the hex root hash, checked by the kernel against its keyring.
  std::vector<uint8_t> root_hash_signature;
  std::optional<VerityParams> params;  // required without a superblock
  OnCorruption on_corruption = OnCorruption::kEio;
  bool ignore_zero_blocks = false;
  bool check_at_most_once = false;
};

Status Open(const OpenOptions& options);
Status Close(const std::string& name);

}  // namespace basalt::verity
