#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt {

std::string ToHex(std::span<const uint8_t> bytes);
// Accepts upper or lower case; rejects odd lengths and non-hex characters with the position.
Result<std::vector<uint8_t>> FromHex(std::string_view hex);

}  // namespace basalt
