// What the segment encoders share: the options, the images, the anchor index and the codecs.
// Everything here is read-only or thread-safe: encoders run on worker threads.
#pragma once

#include "anchor_index.h"
#include "bsdiff_runner.h"
#include "codec_choice.h"
#include "common/log.h"
#include "inputs.h"
#include "payload/generator.h"

namespace basalt::payload {

struct EncodeContext {
  const GenerateOptions& opt;
  const Inputs& in;
  const AnchorIndex& anchors;  // built by PlanDelta; empty for a full payload
  const CodecChoice& codecs;
  BsdiffRunner& bsdiff;
  Logger& log;
};

}  // namespace basalt::payload
