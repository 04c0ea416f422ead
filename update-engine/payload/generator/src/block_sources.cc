#include "block_sources.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "image_blocks.h"
#include "payload/format.h"
#include "segment.h"

namespace basalt::payload {

std::vector<uint64_t> FindBlockSources(const Inputs& in) {
  const std::span<const uint8_t> new_ = in.new_bytes, old_ = in.old_bytes;
  const uint64_t shipped = in.shipped_blocks, old_shipped = in.old_shipped_blocks;
  // Old blocks by content, for SOURCE_COPY of blocks that moved.
  std::unordered_map<std::string_view, uint64_t> old_blocks;
  old_blocks.reserve(old_shipped);
  for (uint64_t b = old_shipped; b-- > 0;) {
    auto span = Blocks(old_, b, 1);
    old_blocks[std::string_view(reinterpret_cast<const char*>(span.data()), span.size())] = b;
  }
  std::vector<uint64_t> src(shipped, kChangedBlock);
  for (uint64_t b = 0; b < shipped; ++b) {
    auto span = Blocks(new_, b, 1);
    if (IsZero(span)) {
      src[b] = kZeroBlock;
    } else if (b < old_shipped &&
               std::memcmp(span.data(), Blocks(old_, b, 1).data(), kBlockSize) == 0) {
      src[b] = b;
    } else if (auto it = old_blocks.find(
                   std::string_view(reinterpret_cast<const char*>(span.data()), span.size()));
               it != old_blocks.end()) {
      // Keep runs contiguous: prefer the block after the previous copy's source.
      uint64_t prev = b > 0 ? src[b - 1] : kChangedBlock;
      if (prev < kZeroBlock && prev + 1 < old_shipped &&
          std::memcmp(span.data(), Blocks(old_, prev + 1, 1).data(), kBlockSize) == 0) {
        src[b] = prev + 1;
      } else {
        src[b] = it->second;
      }
    }
  }
  // Short zero runs inside a file are diffed with it; long ones become ZERO.
  for (uint64_t b = 0; b < shipped;) {
    uint64_t e = b;
    while (e < shipped && src[e] == kZeroBlock)
      ++e;
    if (e > b && e - b < kMinZeroRunBlocks) {
      for (uint64_t z = b; z < e; ++z)
        src[z] = kChangedBlock;
    }
    b = std::max(e, b + 1);
  }
  return src;
}

}  // namespace basalt::payload
