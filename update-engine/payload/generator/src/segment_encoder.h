// Turns planned segments into operations: ZERO and SOURCE_COPY as they are, chunks and file
// pieces by the smallest codec, LZ4 kernels and gzip'd files by their own encoders.
#pragma once

#include <cstddef>
#include <vector>

#include "common/error.h"
#include "encode_context.h"
#include "planned_op.h"
#include "segment.h"

namespace basalt::payload {

// The operations of `seg`: one, or several for a kernel that is not rebuilt (its file in
// pieces). `slot` is the segment's index, unique among concurrent calls.
Result<std::vector<PlannedOp>> EncodeSegment(const EncodeContext& ctx, const Segment& seg,
                                             size_t slot);

// A kFile segment: its new blocks diffed against its old runs by the smallest codec.
Result<PlannedOp> EncodeFile(const EncodeContext& ctx, const Segment& seg, size_t slot);

}  // namespace basalt::payload
