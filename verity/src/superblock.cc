// The veritysetup superblock: 512 bytes, little-endian.
//   0 signature "verity\0\0"   8 version u32   12 hash_type u32   16 uuid[16]
//  32 algorithm[32] (NUL-padded)  64 data_block_size u32  68 hash_block_size u32
//  72 data_blocks u64  80 salt_size u16  82 pad[6]  88 salt[256]  344 pad[168]
#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "common/fd.h"
#include "common/hex.h"
#include "verity/verity.h"

namespace basalt::verity {
namespace {

constexpr uint8_t kSignature[8] = {'v', 'e', 'r', 'i', 't', 'y', 0, 0};
constexpr size_t kAlgorithmOffset = 32, kAlgorithmSize = 32;
constexpr size_t kSaltOffset = 88;

uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint64_t Le64(const uint8_t* p) {
  return uint64_t{Le32(p)} | uint64_t{Le32(p + 4)} << 32;
}
void PutLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutLe64(uint8_t* p, uint64_t v) {
  PutLe32(p, static_cast<uint32_t>(v));
  PutLe32(p + 4, static_cast<uint32_t>(v >> 32));
}

}  // namespace

Result<VerityParams> ParseSuperblock(std::span<const uint8_t> b) {
  if (b.size() < kSuperblockSize) {
    return Failf(ErrorKind::kInvalidInput, "verity superblock truncated: {} of {} bytes", b.size(),
                 kSuperblockSize);
  }
  if (std::memcmp(b.data(), kSignature, sizeof(kSignature)) != 0) {
    return Failf(ErrorKind::kInvalidInput,
                 "no verity superblock: signature is {} (hex), expected \"verity\\0\\0\"",
                 ToHex(b.first(8)));
  }
  const uint32_t version = Le32(&b[8]);
  if (version != 1) {
    return Failf(ErrorKind::kUnsupported, "verity superblock version {} is not supported (only 1)",
                 version);
  }
  const uint32_t hash_type = Le32(&b[12]);
  if (hash_type != 1) {
    return Failf(ErrorKind::kUnsupported,
                 "verity hash type {} is not supported (only 1; type 0 is the Chromium OS format)",
                 hash_type);
  }
  VerityParams p;
  p.superblock = true;
  std::memcpy(p.uuid.data(), &b[16], p.uuid.size());

  const uint8_t* alg = &b[kAlgorithmOffset];
  const uint8_t* nul = std::find(alg, alg + kAlgorithmSize, uint8_t{0});
  if (nul == alg + kAlgorithmSize) {
    return Fail(ErrorKind::kInvalidInput,
                "verity superblock: hash algorithm name is not terminated");
  }
  std::string name(alg, nul);
  for (char& c : name) {
    if (!std::isprint(static_cast<unsigned char>(c))) {
      return Fail(ErrorKind::kInvalidInput,
                  "verity superblock: hash algorithm name has non-printable bytes");
    }
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  auto alg_parsed = ParseHashAlgorithm(name);
  if (!alg_parsed) {
    return std::unexpected(std::move(alg_parsed).error().WithContext("verity superblock"));
  }
  p.algorithm = *alg_parsed;

  p.data_block_size = Le32(&b[64]);
  p.hash_block_size = Le32(&b[68]);
  p.data_blocks = Le64(&b[72]);
  const uint16_t salt_size = static_cast<uint16_t>(b[80] | b[81] << 8);
  if (salt_size > kMaxSaltSize) {
    return Failf(ErrorKind::kInvalidInput, "verity superblock: salt size {} exceeds {} bytes",
                 salt_size, kMaxSaltSize);
  }
  p.salt.assign(&b[kSaltOffset], &b[kSaltOffset] + salt_size);
  // Block sizes, data_blocks and overflow are the geometry's rules; apply them here too so a
  // parsed superblock always describes a tree that can exist.
  auto geometry = ComputeGeometry(p);
  if (!geometry)
    return std::unexpected(std::move(geometry).error().WithContext("verity superblock"));
  return p;
}

std::array<uint8_t, kSuperblockSize> SerializeSuperblock(const VerityParams& p) {
  std::array<uint8_t, kSuperblockSize> b{};
  std::memcpy(b.data(), kSignature, sizeof(kSignature));
  PutLe32(&b[8], 1);
  PutLe32(&b[12], 1);
  std::memcpy(&b[16], p.uuid.data(), p.uuid.size());
  std::string_view name = HashAlgorithmName(p.algorithm);
  std::memcpy(&b[kAlgorithmOffset], name.data(), std::min(name.size(), kAlgorithmSize - 1));
  PutLe32(&b[64], p.data_block_size);
  PutLe32(&b[68], p.hash_block_size);
  PutLe64(&b[72], p.data_blocks);
  const size_t salt_size = std::min(p.salt.size(), kMaxSaltSize);
  b[80] = static_cast<uint8_t>(salt_size);
  b[81] = static_cast<uint8_t>(salt_size >> 8);
  // An empty vector's data() may be null, and memcpy from null is undefined even for 0 bytes.
  if (salt_size > 0) std::memcpy(&b[kSaltOffset], p.salt.data(), salt_size);
  return b;
}

Result<VerityParams> ReadSuperblock(const std::string& path, uint64_t offset) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  std::array<uint8_t, kSuperblockSize> buf;
  auto read = PreadFull(fd.get(), buf, offset, path);
  if (!read) {
    return std::unexpected(std::move(read).error().WithContext(
        fmt::format("verity superblock at offset {} of {}", offset, path)));
  }
  auto params = ParseSuperblock(buf);
  if (!params) {
    return std::unexpected(
        std::move(params).error().WithContext(fmt::format("{} at offset {}", path, offset)));
  }
  params->hash_offset = offset;
  return params;
}

}  // namespace basalt::verity
