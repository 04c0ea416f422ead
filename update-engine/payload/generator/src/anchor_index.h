// Where in the old image a changed chunk of the new image most likely came from, found by
// content-defined anchors: a gear rolling hash over the last 64 bytes; positions where its top
// bits are zero (one in ~512 bytes) are indexed by the hash value. Matching anchors between a
// changed chunk and the old image vote for where its old version lives.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runs.h"

namespace basalt::payload {

class AnchorIndex {
 public:
  void Build(std::span<const uint8_t> old_data);

  // Up to two old byte ranges [lo, hi), block-aligned, likely to hold the old version of
  // `chunk`, each widened by `margin` bytes.
  std::vector<std::pair<uint64_t, uint64_t>> Windows(std::span<const uint8_t> chunk,
                                                     uint64_t old_size, uint64_t margin) const;

 private:
  std::array<uint64_t, 256> table_{};
  std::unordered_map<uint64_t, uint64_t> index_;
};

// Old bytes on each side of an anchor window: proportional to the chunk, so a one-block change
// of filesystem metadata is not diffed against megabytes of prefix.
uint64_t PatchMargin(uint64_t chunk_bytes);

// The old blocks new blocks [start, start + blocks) are diffed against: the anchors' windows,
// else (no anchor matched) the same place in the old image, widened by the margin.
Runs ChunkSource(const AnchorIndex& anchors, std::span<const uint8_t> new_image,
                 uint64_t old_shipped_blocks, uint64_t start, uint64_t blocks);

}  // namespace basalt::payload
