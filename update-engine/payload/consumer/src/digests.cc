#include "digests.h"

#include <cstring>

#include "common/hash.h"
#include "common/hex.h"

namespace basalt::payload {

Status CheckDigest(std::span<const uint8_t> data, const std::string& expected, ErrorKind kind,
                   std::string_view what) {
  Sha256Digest got = Sha256(data);
  if (expected.size() != got.size() || std::memcmp(expected.data(), got.data(), got.size()) != 0) {
    return Failf(kind, "{}: SHA-256 {} does not match the signed {}", what, ToHex(got),
                 HexOf(expected));
  }
  return {};
}

std::string HexOf(const std::string& bytes) {
  return ToHex(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace basalt::payload
