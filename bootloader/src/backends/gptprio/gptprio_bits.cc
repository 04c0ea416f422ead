#include "backends/gptprio/gptprio_bits.h"

namespace basalt::boot {
namespace {
constexpr int kPriorityShift = 48;
constexpr int kTriesShift = 52;
constexpr int kSuccessfulShift = 56;
constexpr uint64_t kMask = (uint64_t{0xf} << kPriorityShift) | (uint64_t{0xf} << kTriesShift) |
                           (uint64_t{1} << kSuccessfulShift);
}  // namespace

SlotAttributes DecodeGptPrio(uint64_t attributes) {
  return SlotAttributes{
      .priority = static_cast<int>((attributes >> kPriorityShift) & 0xf),
      .tries = static_cast<int>((attributes >> kTriesShift) & 0xf),
      .successful = ((attributes >> kSuccessfulShift) & 1) != 0,
  };
}

uint64_t EncodeGptPrio(uint64_t attributes, const SlotAttributes& slot) {
  uint64_t out = attributes & ~kMask;
  out |= (static_cast<uint64_t>(slot.priority) & 0xf) << kPriorityShift;
  out |= (static_cast<uint64_t>(slot.tries) & 0xf) << kTriesShift;
  out |= static_cast<uint64_t>(slot.successful ? 1 : 0) << kSuccessfulShift;
  return out;
}

}  // namespace basalt::boot
