// Standard base64 (RFC 4648 section 4, with padding), as DSSE envelopes carry it. The decoder
// is strict: no whitespace, no URL-safe alphabet, no missing or stray padding, so one envelope
// has exactly one encoding.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt {

std::string Base64Encode(std::span<const uint8_t> data);
std::string Base64Encode(std::string_view data);
Result<std::vector<uint8_t>> Base64Decode(std::string_view text);

}  // namespace basalt
