// PE32+ images built byte by byte for tests: the PE reader's malformations, and UKI-shaped files
// (a .cmdline and an .osrel section) for the uki boot backend without building a real UKI.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace basalt::testing {

struct FakeSection {
  std::string name;
  std::string data;
  uint32_t virtual_size = 0;  // 0: data.size()
};

inline void Put16(std::string& b, size_t at, uint16_t v) {
  b[at] = static_cast<char>(v & 0xff);
  b[at + 1] = static_cast<char>(v >> 8);
}
inline void Put32(std::string& b, size_t at, uint32_t v) {
  Put16(b, at, static_cast<uint16_t>(v));
  Put16(b, at + 2, static_cast<uint16_t>(v >> 16));
}

constexpr size_t kPe = 0x40;
constexpr size_t kOptional = kPe + 24;
constexpr size_t kOptionalSize = 240;  // PE32+ fixed part and 16 data directories
constexpr size_t kTable = kOptional + kOptionalSize;

// A PE32+ image: DOS header, PE header at 0x40, section data from 0x400 padded to 0x200.
inline std::string MakePe(const std::vector<FakeSection>& sections) {
  std::string b(0x400, '\0');
  b[0] = 'M';
  b[1] = 'Z';
  Put32(b, 0x3c, kPe);
  b.replace(kPe, 4, std::string("PE\0\0", 4));
  Put16(b, kPe + 4, 0x8664);
  Put16(b, kPe + 6, static_cast<uint16_t>(sections.size()));
  Put16(b, kPe + 20, kOptionalSize);
  Put16(b, kOptional, 0x20b);
  Put32(b, kOptional + 32, 0x1000);
  Put32(b, kOptional + 36, 0x200);
  Put32(b, kOptional + 60, 0x400);  // SizeOfHeaders
  Put32(b, kOptional + 108, 16);    // NumberOfRvaAndSizes
  uint32_t va = 0x1000;
  for (size_t i = 0; i < sections.size(); ++i) {
    const FakeSection& s = sections[i];
    const size_t at = kTable + 40 * i;
    b.replace(at, std::min<size_t>(8, s.name.size()), s.name.substr(0, 8));
    const uint32_t raw = static_cast<uint32_t>((s.data.size() + 0x1ff) / 0x200 * 0x200);
    Put32(b, at + 8, s.virtual_size ? s.virtual_size : static_cast<uint32_t>(s.data.size()));
    Put32(b, at + 12, va);
    Put32(b, at + 16, raw);
    Put32(b, at + 20, static_cast<uint32_t>(b.size()));
    b += s.data;
    b.resize(b.size() + raw - s.data.size(), '\0');
    va += (raw + 0xfff) / 0x1000 * 0x1000;
  }
  Put32(b, kOptional + 56, va);
  return b;
}

// A file the uki backend reads as a UKI for `cmdline` and `image_version`.
inline std::string MakeUkiLikePe(const std::string& cmdline, const std::string& image_version) {
  return MakePe({{".osrel", "NAME=\"Test\"\nIMAGE_VERSION=" + image_version + "\n"},
                 {".cmdline", cmdline + "\n"},
                 {".linux", std::string(64, 'k')}});
}

}  // namespace basalt::testing
