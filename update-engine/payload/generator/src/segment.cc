#include "segment.h"

#include <algorithm>

#include "payload/format.h"

namespace basalt::payload {

void AddEncodeSegments(std::vector<Segment>& segments, uint64_t start, uint64_t count,
                       uint64_t chunk_size) {
  const uint64_t chunk = std::max<uint64_t>(1, chunk_size / kBlockSize);
  for (uint64_t b = start; b < start + count; b += chunk) {
    segments.push_back({SegmentKind::kEncode, b, std::min(chunk, start + count - b)});
  }
}

}  // namespace basalt::payload
