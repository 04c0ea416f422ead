#include "attest/authenticode.h"

#include <algorithm>
#include <vector>

#include "common/hash.h"
#include "common/pe_sections.h"

namespace basalt::attest {

Result<std::array<uint8_t, 32>> AuthenticodeSha256(std::string_view image) {
  BASALT_ASSIGN_OR_RETURN(PeHeaders h, ParsePeHeaders(image));
  auto bad = [](std::string_view rule) {
    return Failf(ErrorKind::kInvalidInput, "PE image (Authenticode): {}", rule);
  };
  if (h.size_of_headers > image.size()) return bad("SizeOfHeaders runs past the end of the image");
  // Headers the hash leaves out must lie inside the hashed headers, or the skips below would
  // cut into section data.
  if (h.size_of_headers < h.section_table_end) {
    return bad("SizeOfHeaders does not cover the section table");
  }
  // The CheckSum changes when the image is signed, so it is not hashed; nor is the Certificate
  // Table entry, which signing fills in. An image without the entry (NumberOfRvaAndSizes < 5) has
  // its headers hashed from after the CheckSum on, as EDK2 does.
  Hasher sha(HashAlgorithm::kSha256);
  sha.Update(image.substr(0, h.checksum_offset));
  if (h.cert_table_entry_offset != 0) {
    sha.Update(
        image.substr(h.checksum_offset + 4, h.cert_table_entry_offset - (h.checksum_offset + 4)));
    sha.Update(image.substr(h.cert_table_entry_offset + 8,
                            h.size_of_headers - (h.cert_table_entry_offset + 8)));
  } else {
    sha.Update(image.substr(h.checksum_offset + 4, h.size_of_headers - (h.checksum_offset + 4)));
  }

  // Sections in file order; ones without raw data (.bss-like) contribute nothing.
  std::vector<const PeSection*> sections;
  for (const PeSection& s : h.sections) {
    if (s.raw_size != 0) sections.push_back(&s);
  }
  std::stable_sort(sections.begin(), sections.end(), [](const PeSection* a, const PeSection* b) {
    return a->raw_offset < b->raw_offset;
  });
  // EDK2 and pesign hash the data after the sections from "headers plus every section's raw
  // size" on; that is the end of the last section only when sections neither overlap nor leave
  // gaps after the headers. Overlaps are refused (no linker makes them, and they would let the
  // same bytes be hashed twice); gaps are allowed and hashed as trailing data, as EDK2 does.
  uint64_t end = h.size_of_headers;
  uint64_t hashed = h.size_of_headers;
  for (const PeSection* s : sections) {
    if (s->raw_offset < end) {
      return Failf(ErrorKind::kInvalidInput,
                   "PE image (Authenticode): section {} raw data at {} overlaps the headers or "
                   "the previous section (ending at {})",
                   s->name, s->raw_offset, end);
    }
    sha.Update(image.substr(s->raw_offset, s->raw_size));
    end = uint64_t{s->raw_offset} + s->raw_size;
    hashed += s->raw_size;
  }

  // The attribute certificate table is the one part of the file a signature does not cover; it
  // must be what ends the file, after the sections, or "everything but the table" is ambiguous.
  uint64_t trailing_end = image.size();
  if (h.cert_table_entry_offset != 0 && h.cert_table_size != 0) {
    if (uint64_t{h.cert_table_offset} + h.cert_table_size != image.size()) {
      return bad("the certificate table does not end the image");
    }
    if (h.cert_table_offset < end) {
      return bad("the certificate table overlaps the headers or a section");
    }
    trailing_end = h.cert_table_offset;
  }
  if (trailing_end > hashed) sha.Update(image.substr(hashed, trailing_end - hashed));

  std::array<uint8_t, 32> digest;
  sha.Final(digest.data());
  return digest;
}

}  // namespace basalt::attest
