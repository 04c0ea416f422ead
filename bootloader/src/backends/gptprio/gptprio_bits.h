// The CoreOS/Flatcar gptprio attribute bits of a GPT partition entry: priority in bits 48-51,
// tries in 52-55, successful in 56. Other bits (e.g. 0 "required", 60 "read-only") are kept.
#pragma once

#include <cstdint>

#include "boot/slot_policy.h"

namespace basalt::boot {

SlotAttributes DecodeGptPrio(uint64_t attributes);
uint64_t EncodeGptPrio(uint64_t attributes, const SlotAttributes& slot);

}  // namespace basalt::boot
