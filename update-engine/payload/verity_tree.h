// Rebuilds a dm-verity hash tree (veritysetup format 1: salt first, levels stored top level
// first) into a partition and returns its root hash. The payload applier keeps this behind a
// single call so the shared verity engine (verity/verity.h) can replace it.
#pragma once

#include <cstdint>
#include <vector>

#include "common/error.h"
#include "common/hash.h"
#include "update-engine/proto/payload.pb.h"

namespace basalt::payload {

struct RebuiltVerity {
  std::vector<uint8_t> root_hash;
  Sha256Digest partition_sha256{};  // of [0, partition_size) after the tree was written
};

// Hashes the data blocks of fd and writes the tree after hash_offset (after the superblock
// when there is one), fsyncs, and returns the root hash. The partition's SHA-256 is computed
// in the same read pass over the data, so verifying costs one read of the slot.
Result<RebuiltVerity> RebuildVerityTree(int fd, const proto::VerityParams& params,
                                        uint64_t partition_size);

}  // namespace basalt::payload
