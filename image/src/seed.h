// Everything random-looking in an image (disk GUID, partition UUIDs, verity salt and UUID,
// filesystem UUIDs, FAT volume id) is derived from the build seed, so two builds of the same
// input with the same seed are byte-identical.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace basalt::image {

class SeedDeriver {
 public:
  explicit SeedDeriver(std::string seed) : seed_(std::move(seed)) {}

  // SHA-256("basalt-image\0" purpose "\0" seed), truncated or extended by counter blocks.
  std::vector<uint8_t> Bytes(std::string_view purpose, size_t length) const;
  // An RFC 9562 version-8 ("custom") UUID in lower-case 8-4-4-4-12 form.
  std::string Uuid(std::string_view purpose) const;
  uint32_t U32(std::string_view purpose) const;

 private:
  std::string seed_;
};

}  // namespace basalt::image
