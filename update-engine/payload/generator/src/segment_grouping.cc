#include "segment_grouping.h"

#include <optional>

namespace basalt::payload {
namespace {

// Small changed files are diffed in groups: a file piece of at most kSmallFileBlocks joins a
// group of at most kGroupBlocks new and kGroupSourceBlocks old blocks, which keeps the prefix
// patch at the full level (codec_choice.cc's kStrongWorkBytes).
constexpr uint64_t kSmallFileBlocks = 32;      // 128 KiB
constexpr uint64_t kGroupBlocks = 512;         // 2 MiB
constexpr uint64_t kGroupSourceBlocks = 1024;  // 4 MiB
// Changed metadata between copies comes in runs of a few blocks, each diffed against ~128 KiB
// of old image (PatchMargin): a prefix over 4x the data is diffed at kLargePrefixLevel anyway.
constexpr uint64_t kSmallChunkBlocks = 16;         // 64 KiB
constexpr uint64_t kMetaGroupSourceBlocks = 4096;  // 16 MiB

}  // namespace

// On the OS pair, 5,739 operations one per segment were 2,219 SOURCE_COPY runs between changed
// blocks, 1,114 diffs of small file pieces (1,097 of them code) and 1,987 of small metadata
// chunks. Each operation costs ~85 bytes of manifest (two digests and its extents) and each
// small diff a zstd frame or bsdiff patch with its own headers and tables; grouped (453
// operations), the delta shrank from 9.48 to 8.40 MB, the manifest from 481 to 131 KB.
// Segments keep their relative order, so a group holds files near each other in the image
// (mostly one directory), which then share one diff context.
std::vector<Segment> GroupSegments(std::vector<Segment> segments, const ChunkSourceFn& chunk_source,
                                   Logger& log) {
  std::vector<Segment> out;
  out.reserve(segments.size());
  // Open groups: small pieces of files that are not code, of code, and metadata chunks.
  enum { kText, kCode, kMeta };
  std::optional<size_t> open[3];
  std::optional<size_t> copy_group;
  uint64_t groups[3] = {}, members[3] = {}, copy_groups = 0, copies = 0;
  for (Segment& seg : segments) {
    int cls = -1;
    if (seg.kind == SegmentKind::kFile && seg.blocks <= kSmallFileBlocks) {
      cls = seg.code ? kCode : kText;
    } else if (seg.kind == SegmentKind::kEncode && seg.blocks <= kSmallChunkBlocks) {
      // Diffed as the chunk alone would be, against the old ranges its anchors point to.
      seg.kind = SegmentKind::kFile;
      seg.dst_runs = {{seg.start, seg.blocks}};
      seg.src_runs = chunk_source(seg.start, seg.blocks);
      cls = kMeta;
    }
    if (cls >= 0) {
      const uint64_t src_blocks = RunBlocks(seg.src_runs);
      const uint64_t max_src = cls == kMeta ? kMetaGroupSourceBlocks : kGroupSourceBlocks;
      std::optional<size_t>& g = open[cls];
      if (src_blocks <= max_src / 2) {
        if (g && out[*g].blocks + seg.blocks <= kGroupBlocks) {
          Segment& group = out[*g];
          Runs src = group.src_runs;
          if (cls == kMeta) {
            // Neighbouring chunks' windows overlap: the source is their union.
            src.insert(src.end(), seg.src_runs.begin(), seg.src_runs.end());
            src = UnionRuns(std::move(src));
          } else if (!Covers(src, seg.src_runs)) {
            // Two new files matched to one old file (a renamed copy) need it only once.
            AppendRuns(src, seg.src_runs);
          }
          if (RunBlocks(src) <= max_src) {
            AppendRuns(group.dst_runs, seg.dst_runs);
            group.src_runs = std::move(src);
            group.blocks += seg.blocks;
            ++members[cls];
            continue;
          }
        }
        g = out.size();
        ++groups[cls];
        ++members[cls];
      }
    } else if (seg.kind == SegmentKind::kCopy) {
      if (copy_group && out[*copy_group].blocks + seg.blocks <= kMaxRunBlocks) {
        Segment& group = out[*copy_group];
        if (group.dst_runs.empty()) {
          group.dst_runs = {{group.start, group.blocks}};
          group.src_runs = {{group.src, group.blocks}};
        }
        group.dst_runs.emplace_back(seg.start, seg.blocks);
        group.src_runs.emplace_back(seg.src, seg.blocks);
        group.blocks += seg.blocks;
        ++copies;
        continue;
      }
      copy_group = out.size();
      ++copy_groups;
      ++copies;
    }
    out.push_back(std::move(seg));
  }
  log.Info(fmt::format(
      "delta plan: grouped {} small file pieces into {}, {} of code into {}, {} small metadata "
      "chunks into {}, {} copies into {}",
      members[kText], groups[kText], members[kCode], groups[kCode], members[kMeta], groups[kMeta],
      copies, copy_groups));
  return out;
}

}  // namespace basalt::payload
