// A segment: one unit of the generator's plan, the new blocks one operation (or, for a kernel
// that cannot be rebuilt, a few) will write and what it is made from. Planners make them,
// encoders turn each into operations on worker threads, in plan order.
#pragma once

#include <cstdint>
#include <vector>

#include "payload/gzip_region.h"
#include "runs.h"

namespace basalt::payload {

enum class SegmentKind {
  kZero,      // long zero runs: ZERO
  kCopy,      // blocks found verbatim in the old image: SOURCE_COPY
  kEncode,    // a chunk of new blocks: compressed, or diffed against where anchors point
  kFile,      // changed blocks of files, diffed against their old versions
  kLz4File,   // an LZ4 kernel, diffed decompressed
  kGzipFile,  // gzip'd files, diffed decompressed
};

struct Segment {
  SegmentKind kind;
  uint64_t start;  // first new block
  uint64_t blocks;
  uint64_t src = 0;  // kCopy: first old block, when the runs below are empty
  // kFile: the changed blocks of one new file (in file order) and the blocks of the old file it
  // is diffed against, or of several small files one after another. kLz4File: all blocks of a
  // new and an old LZ4 kernel. kCopy, merged: the copied runs, in the same order on both sides.
  Runs dst_runs = {};
  Runs src_runs = {};
  bool code = false;  // kFile: a piece of a file IsCode() says is compiled code
  // kGzipFile: the gzip members' pieces in the gathered new and old bytes (all blocks of the
  // files, plus the metadata blocks holding inline tails); lengths are filled in on encoding.
  std::vector<GzipRegion> dst_gzip = {}, src_gzip = {};
};

// Runs of at most kMaxRunBlocks blocks per ZERO / SOURCE_COPY operation (16 MiB).
inline constexpr uint64_t kMaxRunBlocks = 4096;
// Zero runs shorter than this are diffed or compressed with their neighbours.
inline constexpr uint64_t kMinZeroRunBlocks = 8;

// Per-file operations, like update_engine's per-file diff cap: a changed file is cut into
// pieces of at most this many new blocks, each diffed against at most kMaxFileSourceBlocks of
// its old file, so any one operation's memory and time stay bounded.
inline constexpr uint64_t kFileOpBlocks = 2048;         // 8 MiB
inline constexpr uint64_t kMaxFileSourceBlocks = 8192;  // 32 MiB

// kEncode segments of at most `chunk_size` bytes over new blocks [start, start + count).
void AddEncodeSegments(std::vector<Segment>& segments, uint64_t start, uint64_t count,
                       uint64_t chunk_size);

}  // namespace basalt::payload
