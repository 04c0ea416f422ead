// The manifest rules of one operation, read from its row in payload/operations.h.
#pragma once

#include <cstdint>
#include <vector>

#include "common/error.h"
#include "payload/format.h"

namespace basalt::payload {

// What a partition's operations are checked against, and what checking them accumulates.
struct OperationScan {
  uint32_t minor = kMinorFull;  // the header's minor version
  bool is_delta = false;        // the partition has an old image to read from
  uint64_t shipped = 0;         // destination blocks the operations must cover exactly
  uint64_t old_blocks = 0;      // source blocks they may read
  std::vector<bool> written;    // destination blocks written so far (`shipped` of them)
  uint64_t covered = 0;         // destination blocks written so far
  uint64_t blob_cursor = 0;     // where the next operation's data must start
};

// kInvalidInput naming the first rule `op` breaks; otherwise records its destination blocks
// and data in `scan`.
Status CheckOperation(const Operation& op, OperationScan& scan);

}  // namespace basalt::payload
