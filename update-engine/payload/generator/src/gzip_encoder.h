// gzip'd files (kGzipFile): one SOURCE_GZIP_PATCH, diffing their decompressed forms, when
// `gzip -n` reproduces the new members.
#pragma once

#include <cstddef>

#include "common/error.h"
#include "encode_context.h"
#include "planned_op.h"
#include "segment.h"

namespace basalt::payload {

// One SOURCE_GZIP_PATCH when `gzip -n` reproduces the new members and the patch of the
// decompressed forms is the smaller; otherwise one ordinary diff of the same blocks.
Result<PlannedOp> EncodeGzipFiles(const EncodeContext& ctx, const Segment& seg, size_t slot);

}  // namespace basalt::payload
