#include "operation_executor.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "digests.h"
#include "payload/bspatch.h"
#include "payload/gzip_region.h"
#include "payload/lz4_region.h"

namespace basalt::payload {
namespace {

using Buffers = OperationExecutor::Buffers;
using Output = OperationExecutor::Output;
using Bytes = std::span<const uint8_t>;

// One operation's inputs, verified.
struct Inputs {
  const Operation& op;
  Bytes blob;
  Bytes source;
  size_t dst_bytes;
};

// How the data of an expanded-form operation turns the expanded source into the expanded
// destination, by Operation::ExpandedPatch.
using PatchFn = Status (*)(Buffers&, Bytes patch, Bytes source, std::span<uint8_t> out);

Status ZstdPrefixPatch(Buffers& b, Bytes patch, Bytes source, std::span<uint8_t> out) {
  return b.zstd.DecompressExact(patch, out, source);
}
Status BsdiffXzPatch(Buffers&, Bytes patch, Bytes source, std::span<uint8_t> out) {
  return ApplyBsdiffXz(source, patch, out);
}

struct PatcherRow {
  Operation::ExpandedPatch type;
  PatchFn patch;
};
constexpr auto kPatchers = std::to_array<PatcherRow>({
    {Operation::ZSTD_PREFIX, &ZstdPrefixPatch},
    {Operation::BSDIFF_XZ, &BsdiffXzPatch},
});
static_assert(CheckOneRowPerType(kPatchers, Operation::ExpandedPatch_ARRAYSIZE));

Status PatchExpanded(Buffers& b, const Inputs& in, Bytes source, std::span<uint8_t> out) {
  const auto i = static_cast<size_t>(in.op.expanded_patch());
  if (i >= kPatchers.size()) {
    return Failf(ErrorKind::kUnsupported, "expanded patch {} unsupported", i);
  }
  return kPatchers[i].patch(b, in.blob, source, out);
}

// A destination rebuilt by a compressor on this host must be exactly the signed bytes before it
// may be written; otherwise the delta is unusable here (the full payload still is).
Result<Output> Rebuilt(Buffers& b, const Inputs& in, Bytes rebuilt, std::string_view why) {
  if (rebuilt.size() != in.dst_bytes) {
    return Failf(ErrorKind::kIntegrity, "{}recompressed destination is {} bytes, not {}",
                 kNotReproducible, rebuilt.size(), in.dst_bytes);
  }
  if (auto s = CheckDigest(rebuilt, in.op.dst_sha256(), ErrorKind::kIntegrity,
                           "recompressed destination");
      !s) {
    return Fail(ErrorKind::kIntegrity,
                fmt::format("{}{} ({})", kNotReproducible, s.error().message(), why));
  }
  std::span<uint8_t> out = b.out.Resize(rebuilt.size());
  std::ranges::copy(rebuilt, out.begin());
  return Output::Of(out);
}

// The executors, one per Operation::Type.

Result<Output> Replace(Buffers&, const Inputs& in) {
  return Output::Of(in.blob);
}

Result<Output> ReplaceZstd(Buffers& b, const Inputs& in) {
  std::span<uint8_t> out = b.out.Resize(in.dst_bytes);
  BASALT_RETURN_IF_ERROR(b.zstd.DecompressExact(in.blob, out));
  return Output::Of(out);
}

Result<Output> ReplaceXz(Buffers& b, const Inputs& in) {
  std::span<uint8_t> out = b.out.Resize(in.dst_bytes);
  BASALT_RETURN_IF_ERROR(XzDecompressExact(in.blob, out));
  return Output::Of(out);
}

Result<Output> Zero(Buffers&, const Inputs&) {
  return Output::Zeros();
}

Result<Output> SourceCopy(Buffers&, const Inputs& in) {
  return Output::Of(in.source);
}

Result<Output> SourceZstdPatch(Buffers& b, const Inputs& in) {
  std::span<uint8_t> out = b.out.Resize(in.dst_bytes);
  BASALT_RETURN_IF_ERROR(b.zstd.DecompressExact(in.blob, out, in.source));
  return Output::Of(out);
}

Result<Output> SourceBsdiff(Buffers& b, const Inputs& in) {
  std::span<uint8_t> out = b.out.Resize(in.dst_bytes);
  BASALT_RETURN_IF_ERROR(ApplyBsdiff(in.source, in.blob, out));
  return Output::Of(out);
}

// Expand the source's LZ4 stream, patch its expansion into the destination's, recompress, and
// check the result against the signed destination SHA-256.
Result<Output> SourceLz4Patch(Buffers& b, const Inputs& in) {
  const auto region = [](const proto::Lz4Region& r) {
    return Lz4Region{r.offset(), r.compressed_length(), r.decompressed_length(),
                     static_cast<int>(r.level())};
  };
  const Lz4Region src_region = region(in.op.src_lz4()), dst_region = region(in.op.dst_lz4());
  BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> src_expanded,
                          ExpandLz4Region(in.source, src_region));
  std::vector<uint8_t> dst_expanded(in.dst_bytes - dst_region.compressed_length +
                                    dst_region.decompressed_length);
  BASALT_RETURN_IF_ERROR(PatchExpanded(b, in, src_expanded, dst_expanded));
  b.expanded_bytes = src_expanded.size() + dst_expanded.size();
  src_expanded = {};
  auto contracted = ContractLz4Region(dst_expanded, dst_region);
  if (!contracted) {
    return Fail(ErrorKind::kIntegrity,
                std::string(kNotReproducible) + contracted.error().message());
  }
  return Rebuilt(b, in, *contracted, "this host's liblz4 compresses differently");
}

Result<Output> SourceBsdiffXz(Buffers& b, const Inputs& in) {
  std::span<uint8_t> out = b.out.Resize(in.dst_bytes);
  BASALT_RETURN_IF_ERROR(ApplyBsdiffXz(in.source, in.blob, out));
  return Output::Of(out);
}

// The same for gzip members, recompressed by this host's gzip.
Result<Output> SourceGzipPatch(Buffers& b, const Inputs& in) {
  const auto src_regions = GzipRegionsOf(in.op.src_gzip());
  const auto dst_regions = GzipRegionsOf(in.op.dst_gzip());
  // Validated with the manifest already; checked again because the sizes below rely on it.
  BASALT_RETURN_IF_ERROR(CheckGzipRegions(dst_regions, in.dst_bytes));
  BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> src_expanded,
                          ExpandGzipRegions(in.source, src_regions));
  std::vector<uint8_t> dst_expanded(ExpandedGzipSize(in.dst_bytes, dst_regions));
  BASALT_RETURN_IF_ERROR(PatchExpanded(b, in, src_expanded, dst_expanded));
  b.expanded_bytes = src_expanded.size() + dst_expanded.size();
  src_expanded = {};
  auto contracted = ContractGzipRegions(dst_expanded, dst_regions);
  if (!contracted) {
    return Fail(ErrorKind::kIntegrity,
                std::string(kNotReproducible) + contracted.error().message());
  }
  return Rebuilt(b, in, *contracted,
                 fmt::format("this host's {} compresses differently", kGzipTool));
}

using ExecuteFn = Result<Output> (*)(Buffers&, const Inputs&);
struct ExecutorRow {
  Operation::Type type;
  ExecuteFn execute;
};
// Checked like payload/operations.h's table: a type without its executor fails the build.
constexpr auto kExecutors = std::to_array<ExecutorRow>({
    {Operation::REPLACE, &Replace},
    {Operation::REPLACE_ZSTD, &ReplaceZstd},
    {Operation::REPLACE_XZ, &ReplaceXz},
    {Operation::ZERO, &Zero},
    {Operation::SOURCE_COPY, &SourceCopy},
    {Operation::SOURCE_ZSTD_PATCH, &SourceZstdPatch},
    {Operation::SOURCE_BSDIFF, &SourceBsdiff},
    {Operation::SOURCE_LZ4_PATCH, &SourceLz4Patch},
    {Operation::SOURCE_BSDIFF_XZ, &SourceBsdiffXz},
    {Operation::SOURCE_GZIP_PATCH, &SourceGzipPatch},
});
static_assert(CheckOneRowPerType(kExecutors, Operation::Type_ARRAYSIZE));

}  // namespace

Result<OperationExecutor::Output> OperationExecutor::Execute(const Operation& op, Bytes blob,
                                                             Bytes source) {
  const auto i = static_cast<size_t>(op.type());
  if (i >= kExecutors.size()) {
    // The manifest rules refuse unknown types first; this guards a caller that skipped them.
    return Failf(ErrorKind::kUnsupported, "operation type {} unsupported",
                 static_cast<int>(op.type()));
  }
  buffers_.expanded_bytes = 0;
  BASALT_ASSIGN_OR_RETURN(
      Output out, kExecutors[i].execute(
                      buffers_, {op, blob, source, ExtentBlocks(op.dst_extents()) * kBlockSize}));
  held_bytes_ = std::max<uint64_t>(buffers_.out.capacity(), buffers_.expanded_bytes);
  return out;
}

}  // namespace basalt::payload
