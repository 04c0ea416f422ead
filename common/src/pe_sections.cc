#include "common/pe_sections.h"

#include <algorithm>
#include <cstring>

namespace basalt {
namespace {

// Offsets from the PE/COFF specification, relative to the "PE\0\0" signature.
constexpr size_t kCoffHeaderSize = 24;  // signature (4) + COFF file header (20)
constexpr size_t kNumberOfSectionsAt = 6;
constexpr size_t kTimeDateStampAt = 8;
constexpr size_t kSizeOfOptionalHeaderAt = 20;
// Relative to the optional header.
constexpr size_t kPe32PlusFixedSize = 112;  // up to NumberOfRvaAndSizes inclusive
constexpr size_t kSectionAlignmentAt = 32;
constexpr size_t kSizeOfImageAt = 56;
constexpr size_t kSizeOfHeadersAt = 60;
constexpr size_t kCheckSumAt = 64;
constexpr size_t kNumberOfRvaAndSizesAt = 108;
constexpr size_t kDataDirectoriesAt = 112;  // 8 bytes each: RVA (file offset for entry 4), size
constexpr size_t kCertTableEntry = 4;
constexpr uint16_t kPe32PlusMagic = 0x20b;
constexpr size_t kSectionHeaderSize = 40;

uint16_t Le16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(b[at]) | static_cast<uint8_t>(b[at + 1]) << 8);
}

uint32_t Le32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(Le16(b, at)) | static_cast<uint32_t>(Le16(b, at + 2)) << 16;
}

// Whether [offset, offset + size) lies inside an image of `total` bytes, without overflow.
bool Inside(uint64_t offset, uint64_t size, uint64_t total) {
  return offset <= total && size <= total - offset;
}

}  // namespace

Result<PeHeaders> ParsePeHeaders(std::string_view image) {
  if (image.size() < 64 || image[0] != 'M' || image[1] != 'Z') {
    return Fail(ErrorKind::kInvalidInput, "PE image: no MZ DOS header (64 bytes starting \"MZ\")");
  }
  const uint32_t pe = Le32(image, 0x3c);
  if (!Inside(pe, kCoffHeaderSize, image.size())) {
    return Failf(ErrorKind::kInvalidInput,
                 "PE image: PE header offset {} is past the end ({} bytes)", pe, image.size());
  }
  if (image.substr(pe, 4) != std::string_view("PE\0\0", 4)) {
    return Failf(ErrorKind::kInvalidInput, "PE image: no \"PE\\0\\0\" signature at offset {}", pe);
  }
  const uint16_t nsections = Le16(image, pe + kNumberOfSectionsAt);
  const uint16_t optional_size = Le16(image, pe + kSizeOfOptionalHeaderAt);
  const size_t optional = pe + kCoffHeaderSize;
  if (optional_size < kPe32PlusFixedSize) {
    return Failf(ErrorKind::kInvalidInput,
                 "PE image: optional header of {} bytes is shorter than PE32+'s {}", optional_size,
                 kPe32PlusFixedSize);
  }
  if (!Inside(optional, optional_size, image.size())) {
    return Fail(ErrorKind::kInvalidInput, "PE image: optional header runs past the end");
  }
  if (Le16(image, optional) != kPe32PlusMagic) {
    return Failf(ErrorKind::kInvalidInput,
                 "PE image: optional header magic {:#x} is not PE32+ (0x20b)",
                 Le16(image, optional));
  }
  const uint64_t table = optional + optional_size;
  if (!Inside(table, uint64_t{nsections} * kSectionHeaderSize, image.size())) {
    return Failf(ErrorKind::kInvalidInput,
                 "PE image: section table of {} sections runs past the end", nsections);
  }
  PeHeaders h;
  h.timestamp_offset = pe + kTimeDateStampAt;
  h.checksum_offset = optional + kCheckSumAt;
  h.section_alignment = Le32(image, optional + kSectionAlignmentAt);
  h.size_of_image = Le32(image, optional + kSizeOfImageAt);
  h.size_of_headers = Le32(image, optional + kSizeOfHeadersAt);
  const size_t cert_entry = optional + kDataDirectoriesAt + 8 * kCertTableEntry;
  if (Le32(image, optional + kNumberOfRvaAndSizesAt) > kCertTableEntry &&
      cert_entry + 8 <= optional + optional_size) {
    h.cert_table_entry_offset = cert_entry;
    h.cert_table_offset = Le32(image, cert_entry);
    h.cert_table_size = Le32(image, cert_entry + 4);
  }
  h.section_table_end = table + nsections * kSectionHeaderSize;
  h.sections.reserve(nsections);
  for (size_t i = 0; i < nsections; ++i) {
    const size_t at = table + i * kSectionHeaderSize;
    PeSection s;
    std::string_view name = image.substr(at, 8);
    s.name = std::string(name.substr(0, name.find('\0')));
    s.virtual_size = Le32(image, at + 8);
    s.virtual_address = Le32(image, at + 12);
    s.raw_size = Le32(image, at + 16);
    s.raw_offset = Le32(image, at + 20);
    if (!Inside(s.raw_offset, s.raw_size, image.size())) {
      return Failf(ErrorKind::kInvalidInput,
                   "PE image: section {} ({}) raw data [{}, +{}) runs past the end ({} bytes)", i,
                   s.name, s.raw_offset, s.raw_size, image.size());
    }
    h.sections.push_back(std::move(s));
  }
  return h;
}

Result<std::map<std::string, std::string>> ReadPeSections(std::string_view image,
                                                          std::span<const std::string_view> names) {
  BASALT_ASSIGN_OR_RETURN(PeHeaders h, ParsePeHeaders(image));
  std::map<std::string, std::string> out;
  for (const PeSection& s : h.sections) {
    if (std::find(names.begin(), names.end(), s.name) == names.end()) continue;
    const size_t size = std::min(s.virtual_size, s.raw_size);
    if (!out.emplace(s.name, std::string(image.substr(s.raw_offset, size))).second) {
      return Failf(ErrorKind::kInvalidInput, "PE image: section {} appears more than once", s.name);
    }
  }
  return out;
}

uint32_t PeChecksum(std::string_view image, size_t checksum_offset) {
  // The CheckSum field counts as zero, whatever it holds and wherever it lies.
  auto byte = [&](size_t i) -> uint32_t {
    if (i >= image.size() || (i >= checksum_offset && i - checksum_offset < 4)) return 0;
    return static_cast<uint8_t>(image[i]);
  };
  uint64_t sum = 0;
  for (size_t i = 0; i < image.size(); i += 2) {
    sum += byte(i) | byte(i + 1) << 8;
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint32_t>(sum + image.size());
}

}  // namespace basalt
