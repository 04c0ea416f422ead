#include "codec_choice.h"

#include <algorithm>

#include "payload/bspatch.h"
#include "payload/codec.h"

namespace basalt::payload {
namespace {

// Codec levels by work: prefix patches whose prefix is over 4x the data at most at
// kLargePrefixLevel; patches over kStrongWorkBytes of prefix + data (and plain compression of
// over half that) at most at kLargeWorkLevel; xz only up to kMaxXzBytes.
constexpr int kLargePrefixLevel = 9;
constexpr int kLargeWorkLevel = 15;
constexpr size_t kStrongWorkBytes = 8ull << 20;
constexpr size_t kMaxXzBytes = 2ull << 20;

}  // namespace

// Generation time is dominated by zstd's match finders, so each codec is only tried where it
// can pay (profiled on the OS pair, docs/payload.md "Generation speed"):
// - a level-1 probe first: data it cannot shrink by 2% (compressed files: vmlinuz, initrd,
//   .gz/.xz) is stored as is, no diff or strong codec can do much with it;
// - the prefix patch next; its level drops to kLargePrefixLevel when the prefix is much larger
//   than the data, because levels 16+ index every prefix byte into a binary tree (4 MiB of
//   prefix costs ~2.7 s at level 19 whatever the data size, ~0.15 s at level 12, for a patch a
//   few bytes larger);
// - plain zstd at the full level and xz only when no patch halved the probe.
Result<PlannedOp> CodecChoice::Smallest(std::span<const uint8_t> data,
                                        std::span<const uint8_t> source, size_t slot, int level,
                                        bool try_bsdiff) const {
  PlannedOp best;
  best.op.set_type(Operation::REPLACE);
  best.blob.assign(data.begin(), data.end());
  auto consider = [&](Operation::Type type, std::vector<uint8_t>&& blob) {
    if (!blob.empty() && blob.size() < best.blob.size()) {
      best.op.set_type(type);
      best.blob = std::move(blob);
    }
  };
  BASALT_ASSIGN_OR_RETURN(auto probe, ZstdCompress(data, 1));
  const size_t probe_size = probe.size();
  consider(Operation::REPLACE_ZSTD, std::move(probe));
  // Mostly compressed data (vmlinuz, .gz): plain compression or xz cannot help, only a patch
  // (a bzImage shares half its bytes with the previous kernel's at level 15).
  const bool dense = probe_size * 10 >= data.size() * 9;
  if (!is_delta_) {
    if (dense) return best;
    // Full payloads: one codec, one level (apply throughput; see GenerateOptions).
    BASALT_ASSIGN_OR_RETURN(auto zstd, ZstdCompress(data, level));
    consider(Operation::REPLACE_ZSTD, std::move(zstd));
    return best;
  }
  if (!source.empty()) {
    int patch_level = level;
    if (source.size() > 4 * data.size()) {
      patch_level = std::min(level, kLargePrefixLevel);
    } else if (source.size() + data.size() > kStrongWorkBytes) {
      patch_level = std::min(level, kLargeWorkLevel);
    }
    BASALT_ASSIGN_OR_RETURN(auto patch, ZstdCompress(data, patch_level, source));
    consider(Operation::SOURCE_ZSTD_PATCH, std::move(patch));
    if (try_bsdiff) {
      auto patch = bsdiff_.Diff(source, data, slot);
      // The xz form is ~17% smaller; only worth its encoding time where it can win.
      if (!patch.empty() && AllowedAt(Operation::SOURCE_BSDIFF_XZ, opt_.max_minor_version) &&
          patch.size() * 10 < best.blob.size() * 13) {
        auto xz = BsdiffToXz(patch, opt_.xz_preset);
        if (xz) consider(Operation::SOURCE_BSDIFF_XZ, std::move(*xz));
      }
      consider(Operation::SOURCE_BSDIFF, std::move(patch));
    }
    if (best.blob.size() * 2 <= probe_size) return best;
  }
  if (dense) return best;
  BASALT_ASSIGN_OR_RETURN(auto zstd, ZstdCompress(data, data.size() > kStrongWorkBytes / 2
                                                            ? std::min(level, kLargeWorkLevel)
                                                            : level));
  consider(Operation::REPLACE_ZSTD, std::move(zstd));
  // xz beats zstd by a few percent at best, and its decoder is slow; only for deltas.
  if (opt_.try_xz && data.size() <= kMaxXzBytes) {
    BASALT_ASSIGN_OR_RETURN(auto xz, XzCompress(data, opt_.xz_preset));
    consider(Operation::REPLACE_XZ, std::move(xz));
  }
  return best;
}

}  // namespace basalt::payload
