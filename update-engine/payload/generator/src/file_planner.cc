#include "file_planner.h"

#include <algorithm>
#include <cstring>
#include <span>

#include "block_sources.h"
#include "file_map.h"
#include "gzip_planner.h"
#include "image_blocks.h"
#include "payload/format.h"

namespace basalt::payload {
namespace {

// Cheap first test for an x86 kernel (the boot protocol's "HdrS"); the LZ4 encoder decides.
bool LooksLikeBzImage(std::span<const uint8_t> first_block) {
  return first_block.size() >= 0x250 && std::memcmp(first_block.data() + 0x202, "HdrS", 4) == 0;
}

// Files of compiled code, where bsdiff's approximate matches can beat zstd's exact ones: ELF
// objects, and uncompressed newc cpio archives (the initramfs, mostly kernel modules).
bool IsCode(std::span<const uint8_t> first_block) {
  return first_block.size() >= 6 && (std::memcmp(first_block.data(),
                                                 "\x7f"
                                                 "ELF",
                                                 4) == 0 ||
                                     std::memcmp(first_block.data(), "070701", 6) == 0);
}

bool AllShipped(const FileBlocks& f, uint64_t shipped) {
  return !f.blocks.empty() &&
         std::all_of(f.blocks.begin(), f.blocks.end(), [&](uint64_t b) { return b < shipped; });
}

}  // namespace

FilePlan PlanFiles(const GenerateOptions& opt, const Inputs& in, bool gzip_tool,
                   const std::vector<uint64_t>& sources, std::vector<bool>& taken, Logger& log) {
  FilePlan plan;
  auto new_files = ListFileBlocks(in.new_info.path, in.new_info.hash_offset);
  auto old_files = ListFileBlocks(in.old_info->path, in.old_info->hash_offset);
  if (!new_files || !old_files) {
    // Not an erofs we can read: the block-level plan still makes a correct delta.
    log.Warn(fmt::format("file-aware delta disabled: {}",
                         (!new_files ? new_files.error() : old_files.error()).message()));
    return plan;
  }
  if (opt.gzip_files && gzip_tool &&
      AllowedAt(Operation::SOURCE_GZIP_PATCH, opt.max_minor_version)) {
    // gzip'd files may live wholly inline in metadata; everything else is matched among the
    // old files that have data blocks, as before inline files were listed.
    FileMatcher all_old(*old_files);
    plan.gzip_files = PlanGzipFiles(in, *new_files, *old_files, all_old, taken, plan.segments);
    plan.files_matched += plan.gzip_files;
  }
  std::erase_if(*old_files, [](const FileBlocks& f) { return f.blocks.empty(); });
  FileMatcher matcher(*old_files);
  const std::span<const uint8_t> new_ = in.new_bytes, old_ = in.old_bytes;
  for (const FileBlocks& nf : *new_files) {
    // A file whose every block is found verbatim in the old image (an unchanged kernel) is left
    // to the block plan, which copies it: expanding and re-diffing it would cost minutes.
    const bool verbatim = std::all_of(nf.blocks.begin(), nf.blocks.end(), [&](uint64_t b) {
      return b >= in.shipped_blocks || sources[b] != kChangedBlock;
    });
    if (verbatim) continue;
    if (opt.lz4_kernels && AllowedAt(Operation::SOURCE_LZ4_PATCH, opt.max_minor_version) &&
        nf.blocks.size() * kBlockSize <= kMaxOpDstBytes && AllShipped(nf, in.shipped_blocks) &&
        LooksLikeBzImage(Blocks(new_, nf.blocks[0], 1))) {
      int64_t m = matcher.Match(nf);
      const FileBlocks* of = m < 0 ? nullptr : &(*old_files)[static_cast<size_t>(m)];
      if (of && of->blocks.size() * kBlockSize <= kMaxOpSrcBytes &&
          AllShipped(*of, in.old_shipped_blocks) &&
          LooksLikeBzImage(Blocks(old_, of->blocks[0], 1))) {
        // The whole file, copies included: the operation rebuilds it from its expanded form.
        Segment seg{SegmentKind::kLz4File, nf.blocks[0], nf.blocks.size()};
        seg.dst_runs = ToRuns(nf.blocks, 0, nf.blocks.size());
        seg.src_runs = ToRuns(of->blocks, 0, of->blocks.size());
        for (uint64_t b : nf.blocks)
          taken[b] = true;
        ++plan.files_matched;
        plan.segments.push_back(std::move(seg));
        continue;
      }
    }
    // The blocks of this file that are neither found verbatim in the old image nor part of a
    // long zero run; those are what a diff has to produce.
    std::vector<uint64_t> changed;
    for (uint64_t b : nf.blocks) {
      if (b < in.shipped_blocks && sources[b] == kChangedBlock && !taken[b]) changed.push_back(b);
    }
    if (changed.empty()) continue;
    int64_t m = matcher.Match(nf);
    if (m < 0) continue;  // a new file: the anchor search over the whole old image handles it
    const FileBlocks& of = (*old_files)[static_cast<size_t>(m)];
    std::vector<uint64_t> old_blocks;
    for (uint64_t b : of.blocks) {
      if (b < in.old_shipped_blocks) old_blocks.push_back(b);
    }
    if (old_blocks.empty()) continue;
    ++plan.files_matched;
    const bool code = nf.blocks[0] < in.shipped_blocks && IsCode(Blocks(new_, nf.blocks[0], 1));
    for (uint64_t b : changed)
      taken[b] = true;
    for (size_t i = 0; i < changed.size(); i += kFileOpBlocks) {
      const size_t end = std::min<size_t>(changed.size(), i + kFileOpBlocks);
      Segment seg{SegmentKind::kFile, changed[i], end - i};
      seg.dst_runs = ToRuns(changed, i, end);
      seg.code = code;
      // The part of the old file proportional to this piece, widened; the whole old file when
      // it fits.
      size_t lo = 0, hi = old_blocks.size();
      if (old_blocks.size() > kMaxFileSourceBlocks) {
        const double scale = static_cast<double>(old_blocks.size()) / changed.size();
        const size_t center = static_cast<size_t>((i + end) / 2.0 * scale);
        lo = center > kMaxFileSourceBlocks / 2 ? center - kMaxFileSourceBlocks / 2 : 0;
        hi = std::min(old_blocks.size(), lo + kMaxFileSourceBlocks);
        lo = hi - std::min(hi, kMaxFileSourceBlocks);
      }
      seg.src_runs = ToRuns(old_blocks, lo, hi);
      plan.segments.push_back(std::move(seg));
    }
  }
  return plan;
}

}  // namespace basalt::payload
