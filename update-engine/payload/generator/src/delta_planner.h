// The plan of a delta: which new blocks are copied from the old image, zeroed, or diffed, and
// against what.
#pragma once

#include <vector>

#include "anchor_index.h"
#include "common/log.h"
#include "inputs.h"
#include "payload/generator.h"
#include "segment.h"

namespace basalt::payload {

// Segments covering the new image's shipped blocks, in target order. Builds `anchors` over the
// old image (the encoders look up the sources of kEncode chunks in it). Logs the plan.
std::vector<Segment> PlanDelta(const GenerateOptions& opt, const Inputs& in, AnchorIndex& anchors,
                               Logger& log);

}  // namespace basalt::payload
