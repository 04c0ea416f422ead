// Rebuilds a dm-verity hash tree (veritysetup format 1: salt first, levels stored top level
// first) into a partition and returns its root hash. The payload applier keeps this behind a
// single call so the shared verity engine (verity/verity.h) can replace it.
#pragma once

#include <cstdint>
#include <vector>

#include "common/error.h"
#include "update-engine/proto/payload.pb.h"

namespace basalt::payload {

// Hashes the data blocks of fd and writes the tree at tree_offset (hash_offset, plus one
// block when a superblock is present). fsyncs before returning the root hash.
Result<std::vector<uint8_t>> RebuildVerityTree(int fd, const proto::VerityParams& params);

}  // namespace basalt::payload
