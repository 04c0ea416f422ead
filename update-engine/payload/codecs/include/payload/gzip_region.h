// gzip members inside files: Debian compresses changelogs and manual pages with `gzip -9n`,
// and after a package update the whole member differs even when a few lines were added, so a
// diff of the compressed file is as large as the file. SOURCE_GZIP_PATCH operations diff the
// decompressed forms and recompress on the device with GNU gzip itself: zlib's deflate makes
// different bytes at every level (measured on Debian's changelogs), and GNU gzip is no
// library. That is only sound because the generator checks that `gzip -n -LEVEL` reproduces
// the member bit for bit and the operation carries the SHA-256 of the bytes it must produce;
// a host whose gzip compresses differently refuses the operation before writing anything.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace basalt::payload {

// The gzip program that reproduces members, on the build machine and on hosts (Essential in
// Debian, inside the verity-protected /usr).
inline constexpr const char* kGzipTool = "/usr/bin/gzip";
// Limit on the decompressed members of one operation, so its memory stays bounded whatever a
// manifest says (Debian's largest changelog, the kernel's, is under 4 MB).
inline constexpr uint64_t kMaxGzipExpandedBytes = 64ull << 20;
inline constexpr size_t kMaxGzipPieces = 4;
inline constexpr size_t kMaxGzipRegions = 256;

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// A gzip member stored in pieces of an operation's bytes: one piece when the file's data is
// contiguous, two when erofs keeps the file's last partial block inline in a metadata block
// (and only that piece when the whole file is inline).
struct GzipRegion {
  std::vector<ByteRange> pieces;  // increasing, non-empty
  uint64_t decompressed_length = 0;
  int level = 0;  // destination only: `gzip -n -LEVEL` reproduces the member
};

// Checks regions against the size of the bytes they lie in: 1..kMaxGzipRegions regions of
// 1..kMaxGzipPieces pieces each, every piece non-empty and inside, a region's pieces in
// increasing order, no two pieces overlapping, every decompressed_length non-zero and their
// sum at most kMaxGzipExpandedBytes.
Status CheckGzipRegions(std::span<const GzipRegion> regions, uint64_t bytes);
// Bytes of the expanded form of `bytes` bytes holding `regions` (already checked).
uint64_t ExpandedGzipSize(uint64_t bytes, std::span<const GzipRegion> regions);

// Decodes one whole gzip member into exactly out.size() bytes; trailing bytes, a second
// member, a bad CRC or length are errors.
Status GzipDecompress(std::span<const uint8_t> member, std::span<uint8_t> out);
// `gzip -n -LEVEL -c` of `data`, by kGzipTool.
Result<std::vector<uint8_t>> GzipCompress(std::span<const uint8_t> data, int level);

// The expanded form: every region's decompressed member, in the order of `regions`, then every
// byte outside the regions' pieces, in order.
Result<std::vector<uint8_t>> ExpandGzipRegions(std::span<const uint8_t> bytes,
                                               std::span<const GzipRegion> regions);
// The inverse: recompresses each member and puts its bytes back into its pieces. Fails if a
// member does not come out exactly as long as its pieces.
Result<std::vector<uint8_t>> ContractGzipRegions(std::span<const uint8_t> expanded,
                                                 std::span<const GzipRegion> regions);

// Generator side: the level whose `gzip -n` output is `member` bit for bit, tried in the order
// the header's XFL byte suggests (2: level 9, 4: level 1, else 6 then the rest); nullopt when
// the header names a file or a time (not `gzip -n`) or no level reproduces it.
std::optional<int> FindGzipLevel(std::span<const uint8_t> member,
                                 std::span<const uint8_t> decompressed);

}  // namespace basalt::payload
