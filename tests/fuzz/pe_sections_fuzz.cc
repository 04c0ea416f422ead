// The PE32+ section reader on hostile input: must never read outside the image, and what it
// returns must be exactly the bytes the section table points at.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/pe_sections.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view image(reinterpret_cast<const char*>(data), size);
  static constexpr std::string_view kNames[] = {".osrel", ".cmdline", ".linux", ".initrd"};
  auto headers = basalt::ParsePeHeaders(image);
  auto sections = basalt::ReadPeSections(image, kNames);
  if (headers.has_value() != sections.has_value() &&
      !(headers && sections.error().message().find("more than once") != std::string::npos)) {
    std::abort();
  }
  if (!headers) return 0;
  if (headers->checksum_offset + 4 > size || headers->timestamp_offset + 4 > size) std::abort();
  (void)basalt::PeChecksum(image, headers->checksum_offset);
  if (!sections) return 0;
  for (const auto& s : headers->sections) {
    if (uint64_t{s.raw_offset} + s.raw_size > size) std::abort();
    auto it = sections->find(s.name);
    if (it == sections->end()) continue;
    if (it->second != image.substr(s.raw_offset, std::min(s.virtual_size, s.raw_size))) {
      std::abort();
    }
  }
  return 0;
}
