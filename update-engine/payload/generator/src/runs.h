// Runs of image blocks: how a planned operation names the blocks it writes or reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace basalt::payload {

using Runs = std::vector<std::pair<uint64_t, uint64_t>>;  // {start block, count}

// blocks[begin, end) as runs, in their order.
Runs ToRuns(const std::vector<uint64_t>& blocks, size_t begin, size_t end);
uint64_t RunBlocks(const Runs& runs);
// Appends `from` to `to`, extending the last run of `to` where `from` continues it.
void AppendRuns(Runs& to, const Runs& from);
// The blocks of `runs`, sorted, each once.
Runs UnionRuns(Runs runs);
// Whether every block of `want` lies in `have`.
bool Covers(const Runs& have, const Runs& want);

}  // namespace basalt::payload
