// A minimal PE32+ (EFI executable) reader for untrusted images: the headers a UKI builder and a
// UKI inspector need (section table, alignment, the TimeDateStamp and CheckSum fields) and the
// raw bytes of named sections (a UKI's .cmdline, .osrel). Every offset and size is bounds-checked
// against the image; a malformed image is a kInvalidInput error naming the rule it broke.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt {

struct PeSection {
  std::string name;  // the 8-byte header name up to its first NUL ("/4"-style long names as is)
  uint32_t virtual_address = 0;
  uint32_t virtual_size = 0;
  uint32_t raw_offset = 0;  // PointerToRawData
  uint32_t raw_size = 0;    // SizeOfRawData
};

struct PeHeaders {
  size_t timestamp_offset = 0;  // file offset of the COFF header's TimeDateStamp (PE header + 8)
  size_t checksum_offset = 0;   // file offset of the optional header's CheckSum (PE header + 88)
  uint32_t section_alignment = 0;
  uint32_t size_of_image = 0;
  uint32_t size_of_headers = 0;  // SizeOfHeaders as the header says (not checked against anything)
  size_t section_table_end = 0;  // file offset just past the section table
  // The Certificate Table data directory (entry 4), which Authenticode hashing skips: its file
  // offset, 0 when NumberOfRvaAndSizes or the optional header's size leave it out; and its value
  // (a file offset and a size, not an RVA). Not checked against the image here.
  size_t cert_table_entry_offset = 0;
  uint32_t cert_table_offset = 0;
  uint32_t cert_table_size = 0;
  std::vector<PeSection> sections;  // in section-table order
};

// The headers of a PE32+ image. Rules: the "MZ" DOS header, e_lfanew pointing at "PE\0\0" inside
// the image, a PE32+ optional header (magic 0x20b) of at least its fixed 112 bytes, a section
// table inside the image, and every section's raw data inside the image.
[[nodiscard]] Result<PeHeaders> ParsePeHeaders(std::string_view image);

// The named sections' raw bytes: min(VirtualSize, SizeOfRawData) bytes from PointerToRawData
// (the raw data is padded to FileAlignment; VirtualSize is the content's length). A name the
// image lacks is absent from the map; a requested name that appears twice is an error, since
// which of the two a loader would use is not something to guess. NULs are not trimmed: callers
// that read text (systemd-stub stops a .cmdline at its first NUL) trim themselves.
[[nodiscard]] Result<std::map<std::string, std::string>> ReadPeSections(
    std::string_view image, std::span<const std::string_view> names);

// The PE image checksum (as in the optional header's CheckSum): the 16-bit words of the image
// (an odd last byte as a word of its own) summed with end-around carry, skipping the four
// CheckSum bytes at `checksum_offset`, plus the image length.
uint32_t PeChecksum(std::string_view image, size_t checksum_offset);

}  // namespace basalt
