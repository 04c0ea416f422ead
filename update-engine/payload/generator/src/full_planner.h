// The plan of a full payload: runs of zero blocks become ZERO, the rest chunks to compress.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "segment.h"

namespace basalt::payload {

// Segments covering new blocks [0, shipped_blocks) of `image`, in order.
std::vector<Segment> PlanFull(std::span<const uint8_t> image, uint64_t shipped_blocks,
                              uint64_t chunk_size);

}  // namespace basalt::payload
