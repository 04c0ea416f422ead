#include "anchor_index.h"

#include <algorithm>

#include "image_blocks.h"
#include "payload/format.h"

namespace basalt::payload {
namespace {

constexpr uint64_t kVoteBucket = 1ull << 16;
constexpr uint64_t kMask = 0x1FFull << 55;

std::array<uint64_t, 256> MakeTable() {
  std::array<uint64_t, 256> t{};
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (auto& v : t) {
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    v = z ^ (z >> 31);
  }
  return t;
}

template <typename F>
void ForEachAnchor(std::span<const uint8_t> data, const std::array<uint64_t, 256>& t, F&& f) {
  uint64_t g = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    g = (g << 1) + t[data[i]];
    if (i >= 64 && (g & kMask) == 0) f(g, i);
  }
}

}  // namespace

void AnchorIndex::Build(std::span<const uint8_t> old_data) {
  table_ = MakeTable();
  index_.reserve(old_data.size() / 256);
  ForEachAnchor(old_data, table_, [&](uint64_t g, size_t pos) { index_.try_emplace(g, pos); });
}

std::vector<std::pair<uint64_t, uint64_t>> AnchorIndex::Windows(std::span<const uint8_t> chunk,
                                                                uint64_t old_size,
                                                                uint64_t margin) const {
  std::unordered_map<int64_t, int> votes;
  ForEachAnchor(chunk, table_, [&](uint64_t g, size_t pos) {
    auto it = index_.find(g);
    if (it == index_.end()) return;
    int64_t start = static_cast<int64_t>(it->second) - static_cast<int64_t>(pos);
    int64_t bucket = start >= 0 ? start / static_cast<int64_t>(kVoteBucket)
                                : -((-start + static_cast<int64_t>(kVoteBucket) - 1) /
                                    static_cast<int64_t>(kVoteBucket));
    ++votes[bucket];
  });
  std::vector<std::pair<int, int64_t>> ranked;
  for (auto [b, n] : votes)
    ranked.emplace_back(n, b);
  std::sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& [n, bucket] : ranked) {
    if (out.size() == 2 || n < 2 || (!out.empty() && n * 4 < ranked[0].first)) break;
    int64_t lo = bucket * static_cast<int64_t>(kVoteBucket) - static_cast<int64_t>(margin);
    int64_t hi = bucket * static_cast<int64_t>(kVoteBucket) +
                 static_cast<int64_t>(chunk.size() + kVoteBucket + margin);
    lo = std::max<int64_t>(lo, 0) / kBlockSize * kBlockSize;
    hi = std::min<int64_t>(hi, static_cast<int64_t>(old_size));
    hi = (hi + kBlockSize - 1) / kBlockSize * kBlockSize;
    if (hi > static_cast<int64_t>(old_size))
      hi = static_cast<int64_t>(old_size) / kBlockSize * kBlockSize;
    if (hi <= lo) continue;
    bool overlaps = false;
    for (auto& [a, b] : out) {
      if (static_cast<uint64_t>(lo) < b && a < static_cast<uint64_t>(hi)) {
        a = std::min<uint64_t>(a, lo);
        b = std::max<uint64_t>(b, hi);
        overlaps = true;
      }
    }
    if (!overlaps) out.emplace_back(lo, hi);
  }
  return out;
}

uint64_t PatchMargin(uint64_t chunk_bytes) {
  return std::clamp<uint64_t>(chunk_bytes / 2, 64 << 10, 1 << 20);
}

Runs ChunkSource(const AnchorIndex& anchors, std::span<const uint8_t> new_image,
                 uint64_t old_shipped_blocks, uint64_t start, uint64_t blocks) {
  auto data = Blocks(new_image, start, blocks);
  const uint64_t margin = PatchMargin(data.size());
  const uint64_t old_bytes = old_shipped_blocks * kBlockSize;
  auto windows = anchors.Windows(data, old_bytes, margin);
  if (windows.empty() && start < old_shipped_blocks) {
    // No anchors matched: try the same place in the old image. The margin need not be a
    // whole number of blocks.
    uint64_t lo = start * kBlockSize > margin ? start * kBlockSize - margin : 0;
    uint64_t hi = std::min<uint64_t>(old_bytes, (start + blocks) * kBlockSize + margin);
    windows.emplace_back(lo / kBlockSize * kBlockSize,
                         std::min(old_bytes, (hi + kBlockSize - 1) / kBlockSize * kBlockSize));
  }
  Runs runs;
  for (auto [lo, hi] : windows)
    runs.emplace_back(lo / kBlockSize, (hi - lo) / kBlockSize);
  return runs;
}

}  // namespace basalt::payload
