#include "seed.h"

#include <fmt/format.h>

#include "common/hash.h"

namespace basalt::image {

std::vector<uint8_t> SeedDeriver::Bytes(std::string_view purpose, size_t length) const {
  std::vector<uint8_t> out;
  for (uint32_t counter = 0; out.size() < length; ++counter) {
    std::string input = "basalt-image";
    input.push_back('\0');
    input.append(purpose);
    input.push_back('\0');
    input.append(seed_);
    input.push_back('\0');
    input += std::to_string(counter);
    Sha256Digest d = Sha256(input);
    out.insert(out.end(), d.begin(), d.end());
  }
  out.resize(length);
  return out;
}

std::string SeedDeriver::Uuid(std::string_view purpose) const {
  std::vector<uint8_t> b = Bytes(purpose, 16);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x80);  // version 8
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC variant
  std::string s;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s += fmt::format("{:02x}", b[i]);
  }
  return s;
}

uint32_t SeedDeriver::U32(std::string_view purpose) const {
  std::vector<uint8_t> b = Bytes(purpose, 4);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

}  // namespace basalt::image
