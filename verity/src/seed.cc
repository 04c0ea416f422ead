#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>

#include "verity/verity.h"

namespace basalt::verity {
namespace {

Sha256Digest Derive(std::string_view label, std::string_view seed) {
  Hasher h(HashAlgorithm::kSha256);
  h.Update(label);
  const uint8_t nul = 0;
  h.Update(std::span(&nul, 1));
  h.Update(seed);
  Sha256Digest out;
  h.Final(out.data());
  return out;
}

void SetVersionBits(Uuid& u, uint8_t version) {
  u[6] = static_cast<uint8_t>((u[6] & 0x0f) | (version << 4));
  u[8] = static_cast<uint8_t>((u[8] & 0x3f) | 0x80);  // RFC 9562 variant
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::vector<uint8_t> SaltFromSeed(std::string_view seed) {
  Sha256Digest d = Derive("basalt-verity-salt", seed);
  return std::vector<uint8_t>(d.begin(), d.end());
}

Uuid UuidFromSeed(std::string_view seed) {
  Sha256Digest d = Derive("basalt-verity-uuid", seed);
  Uuid u;
  std::copy_n(d.begin(), u.size(), u.begin());
  SetVersionBits(u, 8);
  return u;
}

Uuid RandomUuid() {
  Uuid u;
  // Without randomness there is no safe fallback; an aborted build beats a reused UUID.
  if (RAND_bytes(u.data(), static_cast<int>(u.size())) != 1) std::abort();
  SetVersionBits(u, 4);
  return u;
}

std::string FormatUuid(const Uuid& u) {
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
      "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
      u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
      u[15]);
}

Result<Uuid> ParseUuid(std::string_view text) {
  // 8-4-4-4-12 hex digits, the form veritysetup and libuuid print.
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
      text[23] != '-') {
    return Failf(ErrorKind::kInvalidInput,
                 "invalid UUID '{}': expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", text);
  }
  Uuid u;
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    int hi = HexDigit(text[i]);
    int lo = HexDigit(text[i + 1]);
    if (hi < 0 || lo < 0) {
      return Failf(ErrorKind::kInvalidInput, "invalid UUID '{}': non-hex character at {}", text,
                   hi < 0 ? i : i + 1);
    }
    u[n++] = static_cast<uint8_t>(hi << 4 | lo);
    ++i;
  }
  return u;
}

}  // namespace basalt::verity
