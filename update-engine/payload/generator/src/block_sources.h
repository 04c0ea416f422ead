// The first step of a delta plan: for each new block, whether its bytes exist anywhere in the
// old image (it is copied), it is zero, or it changed.
#pragma once

#include <cstdint>
#include <vector>

#include "inputs.h"

namespace basalt::payload {

inline constexpr uint64_t kChangedBlock = ~0ull;
inline constexpr uint64_t kZeroBlock = ~0ull - 1;

// Per shipped new block: the old block holding the same bytes (preferring the one after the
// previous block's, so copies form runs), kZeroBlock in a zero run long enough for ZERO, else
// kChangedBlock (short zero runs are diffed with what surrounds them).
std::vector<uint64_t> FindBlockSources(const Inputs& in);

}  // namespace basalt::payload
