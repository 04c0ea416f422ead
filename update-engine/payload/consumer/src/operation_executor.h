// The decoding half of the applier: turns one operation's data and source bytes, both already
// checked against the signed manifest, into the bytes of its destination. No I/O; the streaming
// driver (applier.cc) reads, verifies and writes around it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/error.h"
#include "common/scratch_buffer.h"
#include "payload/codec.h"
#include "payload/format.h"

namespace basalt::payload {

class OperationExecutor {
 public:
  // What an operation writes over its destination extents, in extent order.
  struct Output {
    std::span<const uint8_t> bytes;  // exactly the destination's size, unless `zero`
    bool zero = false;               // every destination byte is zero (nothing is materialised)

    static Output Of(std::span<const uint8_t> bytes) { return {bytes, false}; }
    static Output Zeros() { return {{}, true}; }
  };

  // `op` passed the manifest rules; `blob` matched its data_sha256 and, for a source
  // operation, `source` (its source extents, concatenated) its src_sha256. The output points
  // into `blob`, `source` or this executor's buffer, valid until the next call. Errors of a
  // destination this host cannot rebuild start with kNotReproducible.
  Result<Output> Execute(const Operation& op, std::span<const uint8_t> blob,
                         std::span<const uint8_t> source);

  // The most bytes this executor's own buffers held during the last Execute: its output buffer,
  // or the expanded source and destination of an LZ4 or gzip patch.
  uint64_t held_bytes() const { return held_bytes_; }

  // The buffers reused from one operation to the next (the executors in the .cc use them).
  struct Buffers {
    ZstdDecoder zstd;
    ScratchBuffer out;
    uint64_t expanded_bytes = 0;  // the last expanded-form patch's expanded source + destination
  };

 private:
  Buffers buffers_;
  uint64_t held_bytes_ = 0;
};

}  // namespace basalt::payload
