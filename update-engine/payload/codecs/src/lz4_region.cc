#include "payload/lz4_region.h"

#include <lz4.h>
#include <lz4hc.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "common/run_catching.h"

namespace basalt::payload {
namespace {

constexpr uint8_t kLegacyMagic[4] = {0x02, 0x21, 0x4C, 0x18};  // 0x184C2102 little-endian

uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

uint64_t BlockCount(uint64_t decompressed) {
  return (decompressed + kLz4LegacyBlockBytes - 1) / kLz4LegacyBlockBytes;
}

// One block as `lz4 -l` compresses it: below level 3 the CLI uses the fast compressor.
std::vector<uint8_t> CompressBlock(std::span<const uint8_t> in, int level) {
  const int n = static_cast<int>(in.size());
  std::vector<uint8_t> out(4 + static_cast<size_t>(LZ4_compressBound(n)));
  const char* src = reinterpret_cast<const char*>(in.data());
  char* dst = reinterpret_cast<char*>(out.data() + 4);
  const int cap = static_cast<int>(out.size() - 4);
  const int c =
      level < 3 ? LZ4_compress_default(src, dst, n, cap) : LZ4_compress_HC(src, dst, n, cap, level);
  if (c <= 0) return {};
  const uint32_t u = static_cast<uint32_t>(c);
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<uint8_t>(u >> (8 * i));
  out.resize(4 + static_cast<size_t>(c));
  return out;
}

}  // namespace

Status Lz4LegacyDecompress(std::span<const uint8_t> stream, std::span<uint8_t> out) {
  if (out.empty() || out.size() > kMaxLz4ExpandedBytes) {
    return Failf(ErrorKind::kInvalidInput, "lz4: decompressed size {} is outside 1..{}", out.size(),
                 kMaxLz4ExpandedBytes);
  }
  if (stream.size() < 4 || std::memcmp(stream.data(), kLegacyMagic, 4) != 0) {
    return Fail(ErrorKind::kInvalidInput, "lz4: not an LZ4 legacy stream (bad magic)");
  }
  size_t pos = 4;
  const uint64_t blocks = BlockCount(out.size());
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint64_t at = b * kLz4LegacyBlockBytes;
    const size_t want = static_cast<size_t>(std::min(kLz4LegacyBlockBytes, out.size() - at));
    if (stream.size() - pos < 4)
      return Failf(ErrorKind::kInvalidInput, "lz4: block {} truncated", b);
    const uint32_t c = Le32(stream.data() + pos);
    pos += 4;
    if (c == 0 || c > stream.size() - pos) {
      return Failf(ErrorKind::kInvalidInput, "lz4: block {} claims {} bytes, {} left", b, c,
                   stream.size() - pos);
    }
    const int got = LZ4_decompress_safe(reinterpret_cast<const char*>(stream.data() + pos),
                                        reinterpret_cast<char*>(out.data() + at),
                                        static_cast<int>(c), static_cast<int>(want));
    if (got < 0 || static_cast<size_t>(got) != want) {
      return Failf(ErrorKind::kInvalidInput,
                   "lz4: block {} is corrupt or does not decode to {} bytes", b, want);
    }
    pos += c;
  }
  if (pos != stream.size()) {
    return Failf(ErrorKind::kInvalidInput, "lz4: {} bytes after the last block",
                 stream.size() - pos);
  }
  return {};
}

Result<std::vector<uint8_t>> Lz4LegacyCompress(std::span<const uint8_t> data, int level,
                                               unsigned threads) {
  if (data.empty() || data.size() > kMaxLz4ExpandedBytes) {
    return Failf(ErrorKind::kInvalidInput, "lz4: input size {} is outside 1..{}", data.size(),
                 kMaxLz4ExpandedBytes);
  }
  if (level < 1 || level > LZ4HC_CLEVEL_MAX) {
    return Failf(ErrorKind::kInvalidInput, "lz4: level {} is outside 1..{}", level,
                 LZ4HC_CLEVEL_MAX);
  }
  const size_t blocks = static_cast<size_t>(BlockCount(data.size()));
  std::vector<std::vector<uint8_t>> parts(blocks);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<size_t>(threads, blocks));
  auto work = [&](size_t first) {
    // A block whose compression threw stays empty and is reported below.
    if (!RunCatching("lz4 worker", [&] {
          for (size_t b = first; b < blocks; b += threads) {
            const size_t at = b * kLz4LegacyBlockBytes;
            parts[b] = CompressBlock(
                data.subspan(at, std::min<size_t>(kLz4LegacyBlockBytes, data.size() - at)), level);
          }
        })) {
      return;
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t)
      pool.emplace_back(work, t);
    work(0);
  }
  std::vector<uint8_t> out(kLegacyMagic, kLegacyMagic + 4);
  for (size_t b = 0; b < blocks; ++b) {
    if (parts[b].empty()) return Failf(ErrorKind::kInternal, "lz4: block {} did not compress", b);
    out.insert(out.end(), parts[b].begin(), parts[b].end());
  }
  return out;
}

Result<std::vector<uint8_t>> ExpandLz4Region(std::span<const uint8_t> bytes, const Lz4Region& r) {
  if (r.offset > bytes.size() || r.compressed_length > bytes.size() - r.offset) {
    return Failf(ErrorKind::kInvalidInput, "lz4 region [{}, +{}) lies outside {} bytes", r.offset,
                 r.compressed_length, bytes.size());
  }
  if (r.decompressed_length == 0 || r.decompressed_length > kMaxLz4ExpandedBytes) {
    return Failf(ErrorKind::kInvalidInput, "lz4 region decompresses to {} bytes, limit {}",
                 r.decompressed_length, kMaxLz4ExpandedBytes);
  }
  const size_t tail = bytes.size() - r.offset - r.compressed_length;
  std::vector<uint8_t> out(r.offset + r.decompressed_length + tail);
  std::memcpy(out.data(), bytes.data(), r.offset);
  BASALT_RETURN_IF_ERROR(
      Lz4LegacyDecompress(bytes.subspan(r.offset, r.compressed_length),
                          std::span(out.data() + r.offset, r.decompressed_length)));
  std::memcpy(out.data() + r.offset + r.decompressed_length,
              bytes.data() + r.offset + r.compressed_length, tail);
  return out;
}

Result<std::vector<uint8_t>> ContractLz4Region(std::span<const uint8_t> expanded,
                                               const Lz4Region& r, unsigned threads) {
  if (r.offset > expanded.size() || r.decompressed_length > expanded.size() - r.offset) {
    return Failf(ErrorKind::kInvalidInput, "expanded lz4 region [{}, +{}) lies outside {} bytes",
                 r.offset, r.decompressed_length, expanded.size());
  }
  BASALT_ASSIGN_OR_RETURN(
      std::vector<uint8_t> stream,
      Lz4LegacyCompress(expanded.subspan(r.offset, r.decompressed_length), r.level, threads));
  if (stream.size() != r.compressed_length) {
    return Failf(ErrorKind::kIntegrity,
                 "lz4 level {} recompresses the region to {} bytes, not the {} it must be", r.level,
                 stream.size(), r.compressed_length);
  }
  const size_t tail = expanded.size() - r.offset - r.decompressed_length;
  std::vector<uint8_t> out;
  out.reserve(r.offset + stream.size() + tail);
  out.insert(out.end(), expanded.begin(), expanded.begin() + static_cast<ptrdiff_t>(r.offset));
  out.insert(out.end(), stream.begin(), stream.end());
  out.insert(out.end(), expanded.end() - static_cast<ptrdiff_t>(tail), expanded.end());
  return out;
}

std::optional<Lz4Region> FindBzImageLz4(std::span<const uint8_t> file) {
  // x86 boot protocol: "HdrS" at 0x202, version at 0x206, setup_sects at 0x1f1; since 2.08
  // payload_offset (from the protected-mode code, which follows the setup sectors) at 0x248 and
  // payload_length at 0x24c. Debian's payload is the stream plus a 4-byte decompressed size.
  if (file.size() < 0x250 || std::memcmp(file.data() + 0x202, "HdrS", 4) != 0) return std::nullopt;
  const unsigned version = file[0x206] | static_cast<unsigned>(file[0x207]) << 8;
  if (version < 0x208) return std::nullopt;
  const uint64_t setup_sects = file[0x1f1] == 0 ? 4 : file[0x1f1];
  const uint64_t offset = (setup_sects + 1) * 512 + Le32(file.data() + 0x248);
  const uint64_t length = Le32(file.data() + 0x24c);
  if (length < 12 || offset > file.size() || length > file.size() - offset) return std::nullopt;
  if (std::memcmp(file.data() + offset, kLegacyMagic, 4) != 0) return std::nullopt;
  Lz4Region r;
  r.offset = offset;
  r.compressed_length = length - 4;
  r.decompressed_length = Le32(file.data() + offset + length - 4);
  if (r.decompressed_length == 0 || r.decompressed_length > kMaxLz4ExpandedBytes) {
    return std::nullopt;
  }
  return r;
}

std::optional<int> FindReproducingLevel(std::span<const uint8_t> file, const Lz4Region& region,
                                        std::span<const uint8_t> decompressed) {
  if (region.offset + region.compressed_length > file.size() ||
      decompressed.size() != region.decompressed_length) {
    return std::nullopt;
  }
  auto stream = file.subspan(region.offset, region.compressed_length);
  auto first = decompressed.first(std::min<size_t>(kLz4LegacyBlockBytes, decompressed.size()));
  for (int level : {9, 12, 1, 3, 4, 5, 6, 7, 8, 10, 11}) {
    // The first block decides cheaply; the whole stream confirms.
    auto block = CompressBlock(first, level);
    if (block.empty() || block.size() > stream.size() - 4 ||
        std::memcmp(block.data(), stream.data() + 4, block.size()) != 0) {
      continue;
    }
    auto all = Lz4LegacyCompress(decompressed, level);
    if (all && all->size() == stream.size() &&
        std::memcmp(all->data(), stream.data(), stream.size()) == 0) {
      return level;
    }
  }
  return std::nullopt;
}

}  // namespace basalt::payload
