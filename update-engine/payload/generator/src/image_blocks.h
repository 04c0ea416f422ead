// Blocks of a mapped partition image.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runs.h"

namespace basalt::payload {

std::span<const uint8_t> Blocks(std::span<const uint8_t> image, uint64_t start, uint64_t count);
// The bytes of `runs` of an image, concatenated in order.
std::vector<uint8_t> Gather(std::span<const uint8_t> image, const Runs& runs);
bool IsZero(std::span<const uint8_t> bytes);

}  // namespace basalt::payload
