#include "gzip_encoder.h"

#include <optional>

#include "image_blocks.h"
#include "payload/codec.h"
#include "payload/gzip_region.h"

namespace basalt::payload {
namespace {

void SetGzipRegion(proto::GzipRegion* out, const GzipRegion& r) {
  for (const ByteRange& p : r.pieces) {
    auto* piece = out->add_pieces();
    piece->set_offset(p.offset);
    piece->set_length(p.length);
  }
  out->set_decompressed_length(r.decompressed_length);
  out->set_level(static_cast<uint32_t>(r.level));
}

// The decompressed length a member's trailer (ISIZE, the length mod 2^32) gives; the expansion
// then checks it. A trailer split across two pieces is rare and left to the ordinary diff.
std::optional<uint64_t> GzipIsize(std::span<const uint8_t> bytes, const GzipRegion& r) {
  const ByteRange& last = r.pieces.back();
  if (last.length < 4 || last.offset + last.length > bytes.size()) return std::nullopt;
  const uint8_t* p = bytes.data() + last.offset + last.length - 4;
  return static_cast<uint64_t>(p[0]) | static_cast<uint64_t>(p[1]) << 8 |
         static_cast<uint64_t>(p[2]) << 16 | static_cast<uint64_t>(p[3]) << 24;
}

// The regions whose members decompress (and, for the destination, that `gzip -n` reproduces),
// with their lengths and levels filled in; the others stay compressed bytes of the rest.
std::vector<GzipRegion> UsableGzipRegions(std::span<const uint8_t> bytes,
                                          std::vector<GzipRegion> regions, bool need_level) {
  std::vector<GzipRegion> out;
  uint64_t expanded = 0;
  for (GzipRegion& r : regions) {
    auto n = GzipIsize(bytes, r);
    if (!n || *n == 0 || *n > kMaxGzipExpandedBytes - expanded) continue;
    r.decompressed_length = *n;
    if (!CheckGzipRegions(std::span(&r, 1), bytes.size())) continue;
    std::vector<uint8_t> member;
    for (const ByteRange& p : r.pieces)
      member.insert(member.end(), bytes.begin() + static_cast<ptrdiff_t>(p.offset),
                    bytes.begin() + static_cast<ptrdiff_t>(p.offset + p.length));
    std::vector<uint8_t> text(r.decompressed_length);
    if (!GzipDecompress(member, text)) continue;
    if (need_level) {
      auto level = FindGzipLevel(member, text);
      if (!level) continue;
      r.level = *level;
    }
    expanded += r.decompressed_length;
    out.push_back(std::move(r));
  }
  return out;
}

// The SOURCE_GZIP_PATCH of `data` against `source`, without extents; nullopt when no member on
// either side is usable.
std::optional<PlannedOp> TryGzipPatch(const EncodeContext& ctx, const Segment& seg,
                                      std::span<const uint8_t> data,
                                      std::span<const uint8_t> source) {
  auto dst = UsableGzipRegions(data, seg.dst_gzip, true);
  auto src = UsableGzipRegions(source, seg.src_gzip, false);
  if (dst.empty() || src.empty()) return std::nullopt;
  auto dst_expanded = ExpandGzipRegions(data, dst);
  auto src_expanded = ExpandGzipRegions(source, src);
  if (!dst_expanded || !src_expanded) return std::nullopt;
  auto patch = ZstdCompress(*dst_expanded, ctx.opt.zstd_level, *src_expanded);
  if (!patch) return std::nullopt;
  PlannedOp p;
  p.op.set_type(Operation::SOURCE_GZIP_PATCH);
  p.blob = std::move(*patch);
  for (const GzipRegion& r : src)
    SetGzipRegion(p.op.add_src_gzip(), r);
  for (const GzipRegion& r : dst)
    SetGzipRegion(p.op.add_dst_gzip(), r);
  p.op.set_dst_sha256(DigestString(Sha256(data)));
  return p;
}

}  // namespace

Result<PlannedOp> EncodeGzipFiles(const EncodeContext& ctx, const Segment& seg, size_t slot) {
  const std::vector<uint8_t> data = Gather(ctx.in.new_bytes, seg.dst_runs);
  const std::vector<uint8_t> source = Gather(ctx.in.old_bytes, seg.src_runs);
  auto gz = TryGzipPatch(ctx, seg, data, source);
  PlannedOp best;
  // The compressed diff is only worth its time when the decompressed one did not shrink the
  // files to a small fraction (it nearly always does: a changelog's new entries).
  if (!gz || gz->blob.size() * 8 > data.size()) {
    BASALT_ASSIGN_OR_RETURN(best,
                            ctx.codecs.Smallest(data, source, slot, ctx.opt.zstd_level, false));
  }
  if (gz && (best.blob.empty() || gz->blob.size() < best.blob.size())) best = std::move(*gz);
  AttachRuns(best, seg, source);
  return best;
}

}  // namespace basalt::payload
