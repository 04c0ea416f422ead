// Text fields of untrusted payloads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

namespace basalt::payload {

// Names and versions end up in logs, JSON and terminals: printable ASCII only.
inline bool IsPrintableAscii(const std::string& s, size_t max_len) {
  return s.size() <= max_len &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

}  // namespace basalt::payload
