// Which encoding of a piece of the new image is the smallest: stored, zstd, xz, or (deltas) a
// zstd prefix patch or a bsdiff patch against old bytes, each tried only where it can pay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "bsdiff_runner.h"
#include "common/error.h"
#include "payload/generator.h"
#include "planned_op.h"

namespace basalt::payload {

class CodecChoice {
 public:
  // `is_delta`: plain compression is tuned for apply speed in full payloads, for size in
  // deltas. `bsdiff` runs the bsdiff candidates.
  CodecChoice(const GenerateOptions& options, bool is_delta, BsdiffRunner& bsdiff)
      : opt_(options), is_delta_(is_delta), bsdiff_(bsdiff) {}

  // The smallest encoding of `data` found, as an operation without extents; source operations
  // (patches of `source`, the bytes of the old blocks the caller attaches) only for deltas with
  // a source. `level` is the zstd level; `try_bsdiff` adds the bsdiff candidates. `slot`
  // identifies the calling segment (bsdiff's temporary files).
  Result<PlannedOp> Smallest(std::span<const uint8_t> data, std::span<const uint8_t> source,
                             size_t slot, int level, bool try_bsdiff) const;

 private:
  const GenerateOptions& opt_;
  const bool is_delta_;
  BsdiffRunner& bsdiff_;
};

}  // namespace basalt::payload
