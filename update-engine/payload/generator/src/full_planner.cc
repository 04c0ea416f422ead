#include "full_planner.h"

#include <algorithm>

#include "image_blocks.h"

namespace basalt::payload {

std::vector<Segment> PlanFull(std::span<const uint8_t> image, uint64_t shipped_blocks,
                              uint64_t chunk_size) {
  std::vector<Segment> segments;
  uint64_t b = 0;
  while (b < shipped_blocks) {
    uint64_t e = b;
    while (e < shipped_blocks && IsZero(Blocks(image, e, 1)))
      ++e;
    if (e - b >= kMinZeroRunBlocks) {
      for (uint64_t z = b; z < e; z += kMaxRunBlocks) {
        segments.push_back({SegmentKind::kZero, z, std::min(kMaxRunBlocks, e - z)});
      }
      b = e;
      continue;
    }
    // A data run: up to the next long zero run.
    e = b;
    uint64_t zeros = 0;
    while (e < shipped_blocks) {
      if (IsZero(Blocks(image, e, 1))) {
        if (++zeros >= kMinZeroRunBlocks) break;
      } else {
        zeros = 0;
      }
      ++e;
    }
    uint64_t end = zeros >= kMinZeroRunBlocks ? e + 1 - zeros : e;
    AddEncodeSegments(segments, b, end - b, chunk_size);
    b = end;
  }
  return segments;
}

}  // namespace basalt::payload
