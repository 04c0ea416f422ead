// Fuzzes the operation decoders (zstd, zstd with a prefix, xz, BSDIFF40, BSDIFFXZ, LZ4 legacy
// streams and the bzImage locator that finds them in a source, gzip members and the expansion of
// gzip regions in pieces). The first byte picks the decoder,
// the next two the declared output size; the rest is the blob. The source for the patch decoders is
// a fixed pseudo-random buffer.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "payload/bspatch.h"
#include "payload/codec.h"
#include "payload/gzip_region.h"
#include "payload/lz4_region.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t which = data[0] % 9;
  const size_t out_size = (static_cast<size_t>(data[1]) << 8 | data[2]) * 16;
  std::span<const uint8_t> blob(data + 3, size - 3);
  std::vector<uint8_t> source(8192);
  uint32_t x = 12345;
  for (auto& b : source)
    b = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
  std::vector<uint8_t> out(out_size);
  switch (which) {
    case 0:
      (void)basalt::payload::ZstdDecompressExact(blob, out);
      break;
    case 1:
      (void)basalt::payload::ZstdDecompressExact(blob, out, source);
      break;
    case 2:
      (void)basalt::payload::XzDecompressExact(blob, out);
      break;
    case 3:
      (void)basalt::payload::ApplyBsdiff(source, blob, out);
      break;
    case 4:
      if (!out.empty()) (void)basalt::payload::Lz4LegacyDecompress(blob, out);
      break;
    case 6:
      (void)basalt::payload::ApplyBsdiffXz(source, blob, out);
      break;
    case 5:
      // The applier expands a source it has verified; the generator expands what it finds.
      if (auto r = basalt::payload::FindBzImageLz4(blob); r && r->decompressed_length <= 1 << 20) {
        (void)basalt::payload::ExpandLz4Region(blob, *r);
      }
      break;
    case 7:
      (void)basalt::payload::GzipDecompress(blob, out);
      break;
    case 8:
      // Two regions over the bytes after an 8-byte layout: region 0 in two pieces ([0, a) and
      // [a + gap, +c)), region 1 in one ([a + gap + c + gap2, +e)).
      if (blob.size() >= 8 && !out.empty()) {
        auto u16 = [&](size_t i) { return static_cast<uint64_t>(blob[i]) << 8 | blob[i + 1]; };
        const uint64_t a = u16(0), gap = u16(2) % 256, c = u16(4), gap2 = blob[6], e = blob[7] * 16;
        std::vector<basalt::payload::GzipRegion> regions = {
            {{{0, a}, {a + gap, c}}, out.size(), 0},
            {{{a + gap + c + gap2, e}}, out.size() / 2 + 1, 0}};
        (void)basalt::payload::ExpandGzipRegions(blob.subspan(8), regions);
      }
      break;
  }
  return 0;
}
