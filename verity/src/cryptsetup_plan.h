// The pure translation from our open options to libcryptsetup's verity parameters and flags,
// kept apart from the calls that need device-mapper so it can be unit-tested anywhere.
// Internal to basalt_verity.
#pragma once

#include <libcryptsetup.h>

#include <string>
#include <vector>

#include "activation.h"
#include "common/error.h"

namespace basalt::verity {

struct CryptsetupPlan {
  std::string hash_device;
  std::string data_device;
  // With a superblock, crypt_load() reads it; without, crypt_format() takes every parameter
  // (CRYPT_VERITY_NO_HEADER, which writes nothing).
  bool load_superblock = true;
  std::string hash_name;
  std::vector<char> salt;
  uint32_t data_block_size = 0;
  uint32_t hash_block_size = 0;
  uint64_t data_blocks = 0;
  uint64_t hash_area_offset = 0;
  uint32_t verity_flags = 0;    // CRYPT_VERITY_*
  uint32_t activate_flags = 0;  // CRYPT_ACTIVATE_*
  bool signed_activation = false;

  // Points into this plan: valid while it lives and is not modified.
  crypt_params_verity ToParams() const;
};

Result<CryptsetupPlan> PlanActivation(const OpenOptions& options);

}  // namespace basalt::verity
