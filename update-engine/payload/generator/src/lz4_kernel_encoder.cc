#include "lz4_kernel_encoder.h"

#include <optional>

#include "image_blocks.h"
#include "payload/bspatch.h"
#include "payload/codec.h"
#include "payload/lz4_region.h"
#include "segment_encoder.h"

namespace basalt::payload {
namespace {

void SetRegion(proto::Lz4Region* out, const Lz4Region& r) {
  out->set_offset(r.offset);
  out->set_compressed_length(r.compressed_length);
  out->set_decompressed_length(r.decompressed_length);
  out->set_level(static_cast<uint32_t>(r.level));
}

// The SOURCE_LZ4_PATCH of `data` (the new kernel) against `source` (the old one), without
// extents; nullopt when the kernels are not LZ4 bzImages, liblz4 does not reproduce the new
// stream, or the patch is no smaller than the file.
std::optional<PlannedOp> TryLz4Patch(const EncodeContext& ctx, const Segment& seg,
                                     std::span<const uint8_t> data, std::span<const uint8_t> source,
                                     size_t slot) {
  auto dst_region = FindBzImageLz4(data);
  auto src_region = FindBzImageLz4(source);
  if (!dst_region || !src_region) return std::nullopt;
  auto dst_expanded = ExpandLz4Region(data, *dst_region);
  auto src_expanded = ExpandLz4Region(source, *src_region);
  if (!dst_expanded || !src_expanded) return std::nullopt;
  auto level = FindReproducingLevel(
      data, *dst_region,
      std::span(*dst_expanded).subspan(dst_region->offset, dst_region->decompressed_length));
  if (!level) {
    ctx.log.Warn(
        fmt::format("kernel at block {}: liblz4 does not reproduce its LZ4 stream at any "
                    "level; diffing it compressed",
                    seg.start));
    return std::nullopt;
  }
  dst_region->level = *level;
  auto patch = ZstdCompress(*dst_expanded, ctx.opt.zstd_level, *src_expanded);
  if (!patch) return std::nullopt;
  PlannedOp p;
  p.op.set_type(Operation::SOURCE_LZ4_PATCH);
  p.blob = std::move(*patch);
  // A kernel is recompiled code: on the OS pair's 53 MB kernels Debian's bsdiff with xz
  // streams makes 2.98 MB against zstd's 4.16 MB (bsdiff takes ~5 minutes and ~480 MB of its
  // own, on one core; the other segments go on meanwhile).
  if (ctx.opt.bsdiff != GenerateOptions::Bsdiff::kOff &&
      AllowedAt(Operation::BSDIFF_XZ, ctx.opt.max_minor_version)) {
    auto bs = ctx.bsdiff.Diff(*src_expanded, *dst_expanded, slot);
    if (!bs.empty()) {
      auto xz = BsdiffToXz(bs, ctx.opt.xz_preset);
      if (xz && xz->size() < p.blob.size()) {
        p.blob = std::move(*xz);
        p.op.set_expanded_patch(Operation::BSDIFF_XZ);
      }
    }
  }
  if (p.blob.size() >= data.size()) return std::nullopt;
  SetRegion(p.op.mutable_src_lz4(), *src_region);
  p.op.mutable_src_lz4()->set_level(0);
  SetRegion(p.op.mutable_dst_lz4(), *dst_region);
  p.op.set_dst_sha256(DigestString(Sha256(data)));
  return p;
}

}  // namespace

Result<std::vector<PlannedOp>> EncodeLz4Kernel(const EncodeContext& ctx, const Segment& seg,
                                               size_t slot) {
  const std::vector<uint8_t> data = Gather(ctx.in.new_bytes, seg.dst_runs);
  const std::vector<uint8_t> source = Gather(ctx.in.old_bytes, seg.src_runs);
  std::vector<PlannedOp> out;
  if (auto p = TryLz4Patch(ctx, seg, data, source, slot)) {
    AttachRuns(*p, seg, source);
    out.push_back(std::move(*p));
    return out;
  }
  // Fallback: the whole new file in pieces against the whole old file (which fits the source
  // limit, checked when planning).
  std::vector<uint64_t> dst_blocks;
  for (auto [start, n] : seg.dst_runs)
    for (uint64_t b = start; b < start + n; ++b)
      dst_blocks.push_back(b);
  for (size_t i = 0; i < dst_blocks.size(); i += kFileOpBlocks) {
    Segment piece{SegmentKind::kFile, dst_blocks[i],
                  std::min<size_t>(kFileOpBlocks, dst_blocks.size() - i)};
    piece.dst_runs = ToRuns(dst_blocks, i, i + piece.blocks);
    piece.src_runs = seg.src_runs;
    BASALT_ASSIGN_OR_RETURN(PlannedOp p, EncodeFile(ctx, piece, slot));
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace basalt::payload
