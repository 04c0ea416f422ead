#include "segment_encoder.h"

#include "gzip_encoder.h"
#include "image_blocks.h"
#include "lz4_kernel_encoder.h"

namespace basalt::payload {
namespace {

PlannedOp EncodeZero(const Segment& seg) {
  PlannedOp p;
  p.op.set_type(Operation::ZERO);
  AddExtent(p.op.mutable_dst_extents(), seg.start, seg.blocks);
  return p;
}

PlannedOp EncodeCopy(const EncodeContext& ctx, const Segment& seg) {
  PlannedOp p;
  p.op.set_type(Operation::SOURCE_COPY);
  const Runs single = {{seg.start, seg.blocks}}, single_src = {{seg.src, seg.blocks}};
  const Runs& dst = seg.dst_runs.empty() ? single : seg.dst_runs;
  const Runs& src = seg.src_runs.empty() ? single_src : seg.src_runs;
  Hasher h(HashAlgorithm::kSha256);
  for (auto [start, n] : src) {
    AddExtent(p.op.mutable_src_extents(), start, n);
    h.Update(Blocks(ctx.in.old_bytes, start, n));
  }
  for (auto [start, n] : dst)
    AddExtent(p.op.mutable_dst_extents(), start, n);
  Sha256Digest d;
  h.Final(d.data());
  p.op.set_src_sha256(DigestString(d));
  return p;
}

// A chunk of new blocks: compressed, or (deltas) diffed against the old bytes its anchors
// point to.
Result<PlannedOp> EncodeChunk(const EncodeContext& ctx, const Segment& seg, size_t slot) {
  auto data = Blocks(ctx.in.new_bytes, seg.start, seg.blocks);
  std::vector<uint8_t> source;
  google::protobuf::RepeatedPtrField<proto::Extent> src_extents;
  if (ctx.in.is_delta()) {
    for (auto [start, n] : ChunkSource(ctx.anchors, ctx.in.new_bytes, ctx.in.old_shipped_blocks,
                                       seg.start, seg.blocks)) {
      auto b = Blocks(ctx.in.old_bytes, start, n);
      source.insert(source.end(), b.begin(), b.end());
      AddExtent(&src_extents, start, n);
    }
  }
  const int level = ctx.in.is_delta() ? ctx.opt.zstd_level : ctx.opt.full_zstd_level;
  BASALT_ASSIGN_OR_RETURN(PlannedOp best,
                          ctx.codecs.Smallest(data, source, slot, level,
                                              ctx.opt.bsdiff == GenerateOptions::Bsdiff::kAll));
  if (IsSourceOperation(best.op.type())) {
    *best.op.mutable_src_extents() = src_extents;
    best.op.set_src_sha256(DigestString(Sha256(source)));
  }
  AddExtent(best.op.mutable_dst_extents(), seg.start, seg.blocks);
  return best;
}

}  // namespace

Result<PlannedOp> EncodeFile(const EncodeContext& ctx, const Segment& seg, size_t slot) {
  const std::vector<uint8_t> data = Gather(ctx.in.new_bytes, seg.dst_runs);
  const std::vector<uint8_t> source = Gather(ctx.in.old_bytes, seg.src_runs);
  const bool bsdiff = ctx.opt.bsdiff == GenerateOptions::Bsdiff::kAll ||
                      (ctx.opt.bsdiff == GenerateOptions::Bsdiff::kCode && seg.code);
  BASALT_ASSIGN_OR_RETURN(PlannedOp best,
                          ctx.codecs.Smallest(data, source, slot, ctx.opt.zstd_level, bsdiff));
  AttachRuns(best, seg, source);
  return best;
}

Result<std::vector<PlannedOp>> EncodeSegment(const EncodeContext& ctx, const Segment& seg,
                                             size_t slot) {
  std::vector<PlannedOp> out;
  switch (seg.kind) {
    case SegmentKind::kZero:
      out.push_back(EncodeZero(seg));
      break;
    case SegmentKind::kCopy:
      out.push_back(EncodeCopy(ctx, seg));
      break;
    case SegmentKind::kEncode: {
      BASALT_ASSIGN_OR_RETURN(PlannedOp p, EncodeChunk(ctx, seg, slot));
      out.push_back(std::move(p));
      break;
    }
    case SegmentKind::kFile: {
      BASALT_ASSIGN_OR_RETURN(PlannedOp p, EncodeFile(ctx, seg, slot));
      out.push_back(std::move(p));
      break;
    }
    case SegmentKind::kLz4File:
      return EncodeLz4Kernel(ctx, seg, slot);
    case SegmentKind::kGzipFile: {
      BASALT_ASSIGN_OR_RETURN(PlannedOp p, EncodeGzipFiles(ctx, seg, slot));
      out.push_back(std::move(p));
      break;
    }
  }
  return out;
}

}  // namespace basalt::payload
