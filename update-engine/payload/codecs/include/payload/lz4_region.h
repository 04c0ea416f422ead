// LZ4 "legacy" streams inside a file: what the kernel build's `lz4 -l` makes of vmlinux for
// CONFIG_KERNEL_LZ4 (Debian's amd64 kernels). Two such kernels share almost nothing byte for
// byte, so diffs of the files are as large as the files; their decompressed forms are
// recompiled code that diffs well. SOURCE_LZ4_PATCH operations diff the expanded forms (the
// stream replaced by its decompressed bytes) and recompress on the device, which is only
// sound because the generator checks that recompression reproduces the stream bit for bit
// and the operation carries the SHA-256 of the bytes it must produce.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/error.h"

namespace basalt::payload {

// A legacy stream is a 4-byte magic, then blocks of [4-byte little-endian size][LZ4 block],
// each block but the last decoding to exactly this many bytes.
inline constexpr uint64_t kLz4LegacyBlockBytes = 8ull << 20;
// Limit on a decompressed region (a 6.1 kernel is 53 MB), so an operation's memory stays
// bounded whatever a manifest says.
inline constexpr uint64_t kMaxLz4ExpandedBytes = 96ull << 20;

struct Lz4Region {
  uint64_t offset = 0;  // of the stream, in the bytes it is part of
  uint64_t compressed_length = 0;
  uint64_t decompressed_length = 0;
  int level = 0;  // LZ4 HC level (1-2: the fast compressor) that reproduces the stream
};

// Decodes exactly out.size() bytes from `stream`, which must end right after its last block.
Status Lz4LegacyDecompress(std::span<const uint8_t> stream, std::span<uint8_t> out);
// Compresses as `lz4 -l -LEVEL` does (liblz4's LZ4_compress_HC per 8 MiB block), the blocks
// in parallel on up to `threads` threads.
Result<std::vector<uint8_t>> Lz4LegacyCompress(std::span<const uint8_t> data, int level,
                                               unsigned threads = 0);

// `bytes` with the region's stream replaced by its decompressed bytes.
Result<std::vector<uint8_t>> ExpandLz4Region(std::span<const uint8_t> bytes,
                                             const Lz4Region& region);
// The inverse: recompresses the region of an expanded form. Fails if the stream does not come
// out exactly compressed_length bytes long.
Result<std::vector<uint8_t>> ContractLz4Region(std::span<const uint8_t> expanded,
                                               const Lz4Region& region, unsigned threads = 0);

// Generator side. The LZ4 payload of an x86 bzImage (boot protocol >= 2.08 names where it is),
// without its level; nullopt when `file` is not such a kernel.
std::optional<Lz4Region> FindBzImageLz4(std::span<const uint8_t> file);
// The level whose recompression of `region` reproduces `file` bit for bit, tried in the order
// kernels use (9, 12, then the rest); nullopt when none does.
std::optional<int> FindReproducingLevel(std::span<const uint8_t> file, const Lz4Region& region,
                                        std::span<const uint8_t> decompressed);

}  // namespace basalt::payload
