// Deltas: merges small diffs into shared operations, and neighbouring copies into longer ones.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/log.h"
#include "segment.h"

namespace basalt::payload {

// The old blocks a chunk of changed new blocks [start, start + blocks) is diffed against.
using ChunkSourceFn = std::function<Runs(uint64_t start, uint64_t blocks)>;

// Small kFile pieces (text and code apart) and small kEncode chunks (as kFile against their
// ChunkSource) join groups diffed as one; kCopy segments merge up to kMaxRunBlocks. Segments
// keep their relative order. Logs what it merged.
std::vector<Segment> GroupSegments(std::vector<Segment> segments, const ChunkSourceFn& chunk_source,
                                   Logger& log);

}  // namespace basalt::payload
