#include "runs.h"

#include <algorithm>

namespace basalt::payload {

Runs ToRuns(const std::vector<uint64_t>& blocks, size_t begin, size_t end) {
  Runs runs;
  for (size_t i = begin; i < end; ++i) {
    if (!runs.empty() && runs.back().first + runs.back().second == blocks[i]) {
      ++runs.back().second;
    } else {
      runs.emplace_back(blocks[i], 1);
    }
  }
  return runs;
}

uint64_t RunBlocks(const Runs& runs) {
  uint64_t n = 0;
  for (auto [start, count] : runs)
    n += count;
  return n;
}

void AppendRuns(Runs& to, const Runs& from) {
  for (auto [start, n] : from) {
    if (!to.empty() && to.back().first + to.back().second == start) {
      to.back().second += n;
    } else {
      to.emplace_back(start, n);
    }
  }
}

Runs UnionRuns(Runs runs) {
  std::sort(runs.begin(), runs.end());
  Runs out;
  for (auto [start, n] : runs) {
    if (!out.empty() && start <= out.back().first + out.back().second) {
      out.back().second = std::max(out.back().second, start + n - out.back().first);
    } else {
      out.emplace_back(start, n);
    }
  }
  return out;
}

bool Covers(const Runs& have, const Runs& want) {
  return std::ranges::all_of(want, [&](const auto& w) {
    return std::ranges::any_of(have, [&](const auto& h) {
      return h.first <= w.first && w.first + w.second <= h.first + h.second;
    });
  });
}

}  // namespace basalt::payload
