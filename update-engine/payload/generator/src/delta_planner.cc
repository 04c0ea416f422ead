#include "delta_planner.h"

#include <algorithm>

#include "block_sources.h"
#include "file_planner.h"
#include "gzip_planner.h"
#include "image_blocks.h"
#include "payload/format.h"
#include "segment_grouping.h"

namespace basalt::payload {
namespace {

// Whether gzip'd files may be diffed decompressed (CheckGzipMatchesHosts); logged when not.
bool UseGzipTool(const GenerateOptions& opt, const Inputs& in, Logger& log) {
  if (!opt.gzip_files || !AllowedAt(Operation::SOURCE_GZIP_PATCH, opt.max_minor_version)) {
    return false;
  }
  if (auto s = CheckGzipMatchesHosts(*in.old_info); !s) {
    log.Warn(s.error().message() + "; gzip'd files are diffed compressed (larger delta)");
    return false;
  }
  return true;
}

// The blocks no file segment took, in order: ZERO for long zero runs, SOURCE_COPY for runs
// found in the old image, kEncode chunks for the rest.
void PlanBlocks(const GenerateOptions& opt, const Inputs& in, const std::vector<uint64_t>& sources,
                const std::vector<bool>& taken, std::vector<Segment>& segments) {
  const uint64_t shipped = in.shipped_blocks;
  uint64_t b = 0;
  uint64_t pending = 0;  // start of an encode run not yet emitted
  bool in_encode = false;
  auto flush = [&](uint64_t end) {
    if (in_encode) AddEncodeSegments(segments, pending, end - pending, opt.chunk_size);
    in_encode = false;
  };
  while (b < shipped) {
    if (taken[b]) {
      flush(b);
      ++b;
    } else if (sources[b] == kZeroBlock) {
      flush(b);
      uint64_t e = b;
      while (e < shipped && sources[e] == kZeroBlock)
        ++e;
      for (uint64_t z = b; z < e; z += kMaxRunBlocks) {
        segments.push_back({SegmentKind::kZero, z, std::min(kMaxRunBlocks, e - z)});
      }
      b = e;
    } else if (sources[b] != kChangedBlock) {
      flush(b);
      uint64_t e = b + 1;
      while (e < shipped && e - b < kMaxRunBlocks && sources[e] == sources[e - 1] + 1 &&
             sources[e] < kZeroBlock && !taken[e]) {
        ++e;
      }
      segments.push_back({SegmentKind::kCopy, b, e - b, sources[b]});
      b = e;
    } else {
      if (!in_encode) {
        in_encode = true;
        pending = b;
      }
      ++b;
    }
  }
  flush(shipped);
}

}  // namespace

std::vector<Segment> PlanDelta(const GenerateOptions& opt, const Inputs& in, AnchorIndex& anchors,
                               Logger& log) {
  const bool gzip_tool = UseGzipTool(opt, in, log);
  const std::vector<uint64_t> sources = FindBlockSources(in);
  std::vector<bool> taken(in.shipped_blocks, false);
  FilePlan files = PlanFiles(opt, in, gzip_tool, sources, taken, log);
  anchors.Build(Blocks(in.old_bytes, 0, in.old_shipped_blocks));
  std::vector<Segment> segments = std::move(files.segments);
  PlanBlocks(opt, in, sources, taken, segments);
  segments = GroupSegments(
      std::move(segments),
      [&](uint64_t start, uint64_t blocks) {
        return ChunkSource(anchors, in.new_bytes, in.old_shipped_blocks, start, blocks);
      },
      log);
  // Target order, so the applier writes mostly sequentially; stable, so it is deterministic.
  std::stable_sort(segments.begin(), segments.end(),
                   [](const Segment& a, const Segment& b) { return a.start < b.start; });
  log.Info(
      fmt::format("delta plan: {} operations, {} changed files diffed against their old "
                  "version ({} of them gzip'd, diffed decompressed)",
                  segments.size(), files.files_matched, files.gzip_files));
  return segments;
}

}  // namespace basalt::payload
