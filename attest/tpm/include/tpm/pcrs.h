// Reading PCR values from the TPM (SHA-256 bank).
#pragma once

#include <map>
#include <span>
#include <string>

#include "common/error.h"
#include "tpm/tpm_context.h"

namespace basalt::tpm {

// The SHA-256 bank's values of `indices` (0..23), as lower-case hex, by index.
[[nodiscard]] Result<std::map<int, std::string>> ReadPcrs(const TpmContext& tpm,
                                                          std::span<const int> indices);

}  // namespace basalt::tpm
