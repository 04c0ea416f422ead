// A pair of LZ4 kernels (kLz4File): one SOURCE_LZ4_PATCH, diffing their decompressed forms,
// when liblz4 reproduces the new kernel's stream.
#pragma once

#include <cstddef>
#include <vector>

#include "common/error.h"
#include "encode_context.h"
#include "planned_op.h"
#include "segment.h"

namespace basalt::payload {

// One SOURCE_LZ4_PATCH when both files are LZ4 bzImages and liblz4 reproduces the new one's
// stream; otherwise the file in ordinary pieces, as kFile segments would be.
Result<std::vector<PlannedOp>> EncodeLz4Kernel(const EncodeContext& ctx, const Segment& seg,
                                               size_t slot);

}  // namespace basalt::payload
