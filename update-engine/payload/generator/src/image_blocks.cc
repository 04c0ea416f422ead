#include "image_blocks.h"

#include <algorithm>

#include "payload/format.h"

namespace basalt::payload {

std::span<const uint8_t> Blocks(std::span<const uint8_t> image, uint64_t start, uint64_t count) {
  return image.subspan(start * kBlockSize, count * kBlockSize);
}

std::vector<uint8_t> Gather(std::span<const uint8_t> image, const Runs& runs) {
  std::vector<uint8_t> out;
  for (auto [start, n] : runs) {
    auto b = Blocks(image, start, n);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

bool IsZero(std::span<const uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t c) { return c == 0; });
}

}  // namespace basalt::payload
