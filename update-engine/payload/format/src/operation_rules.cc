#include "operation_rules.h"

#include <fmt/format.h>

#include <string>

#include "payload/lz4_region.h"

namespace basalt::payload {
namespace {

std::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorKind::kInvalidInput, std::move(message));
}

Status CheckLz4Region(const proto::Lz4Region& r, uint64_t bytes, std::string_view side) {
  if (r.compressed_length() < 8 || r.offset() > bytes ||
      r.compressed_length() > bytes - r.offset()) {
    return Invalid(fmt::format("{} LZ4 stream [{}, +{}) is not inside its {} bytes", side,
                               r.offset(), r.compressed_length(), bytes));
  }
  if (r.decompressed_length() == 0 || r.decompressed_length() > kMaxLz4ExpandedBytes) {
    return Invalid(fmt::format("{} LZ4 stream decompresses to {} bytes, limit {}", side,
                               r.decompressed_length(), kMaxLz4ExpandedBytes));
  }
  return {};
}

Status CheckLz4Fields(const Operation& op) {
  if (!op.has_src_lz4() || !op.has_dst_lz4()) {
    return Invalid("SOURCE_LZ4_PATCH without its LZ4 regions");
  }
  BASALT_RETURN_IF_ERROR(
      CheckLz4Region(op.src_lz4(), ExtentBlocks(op.src_extents()) * kBlockSize, "source"));
  BASALT_RETURN_IF_ERROR(
      CheckLz4Region(op.dst_lz4(), ExtentBlocks(op.dst_extents()) * kBlockSize, "destination"));
  if (op.dst_lz4().level() < 1 || op.dst_lz4().level() > 12) {
    return Invalid(fmt::format("LZ4 level {} is outside 1..12", op.dst_lz4().level()));
  }
  if (op.src_lz4().level() != 0) return Invalid("source LZ4 region carries a level");
  if (op.dst_sha256().size() != 32) return Invalid("destination SHA-256 is not 32 bytes");
  return {};
}

Status CheckGzipFields(const Operation& op) {
  if (op.src_gzip_size() == 0 || op.dst_gzip_size() == 0) {
    return Invalid("SOURCE_GZIP_PATCH without its gzip regions");
  }
  if (auto s = CheckGzipRegions(GzipRegionsOf(op.src_gzip()),
                                ExtentBlocks(op.src_extents()) * kBlockSize);
      !s) {
    return Invalid("source " + s.error().message());
  }
  if (auto s = CheckGzipRegions(GzipRegionsOf(op.dst_gzip()),
                                ExtentBlocks(op.dst_extents()) * kBlockSize);
      !s) {
    return Invalid("destination " + s.error().message());
  }
  for (const auto& r : op.dst_gzip()) {
    if (r.level() < 1 || r.level() > 9) {
      return Invalid(fmt::format("gzip level {} is outside 1..9", r.level()));
    }
  }
  for (const auto& r : op.src_gzip()) {
    if (r.level() != 0) return Invalid("source gzip region carries a level");
  }
  if (op.dst_sha256().size() != 32) return Invalid("destination SHA-256 is not 32 bytes");
  return {};
}

// A known type, that the payload's minor version allows, and a known expanded patch that only
// an expanded-form operation carries.
Status CheckType(const Operation& op, uint32_t minor) {
  const OperationRule* rule = FindOperationRule(op.type());
  if (rule == nullptr) return Invalid(fmt::format("unknown type {}", static_cast<int>(op.type())));
  if (minor < MinorVersionFor(op)) {
    const ExpandedPatchRule* patch = FindExpandedPatchRule(op.expanded_patch());
    return Invalid(fmt::format("{}{} needs minor version {}, payload declares {}", rule->name,
                               patch && patch->type != Operation::ZSTD_PREFIX
                                   ? fmt::format(" ({})", patch->name)
                                   : std::string(),
                               MinorVersionFor(op), minor));
  }
  if (FindExpandedPatchRule(op.expanded_patch()) == nullptr) {
    return Invalid(fmt::format("unknown expanded patch {}", static_cast<int>(op.expanded_patch())));
  }
  if (op.expanded_patch() != Operation::ZSTD_PREFIX && rule->expanded == ExpandedForm::kNone) {
    return Invalid(fmt::format("{} carries an expanded patch format", rule->name));
  }
  return {};
}

// Destination extents inside the shipped blocks, each block written once, within the limit.
// Returns the operation's destination blocks.
Result<uint64_t> CheckDestination(const Operation& op, OperationScan& scan) {
  if (op.dst_extents_size() == 0) return Invalid("has no destination extents");
  uint64_t blocks = 0;
  for (const auto& e : op.dst_extents()) {
    if (e.num_blocks() == 0) return Invalid("empty destination extent");
    if (e.start_block() >= scan.shipped || e.num_blocks() > scan.shipped - e.start_block()) {
      return Invalid(fmt::format("destination extent {}+{} outside the {} writable blocks",
                                 e.start_block(), e.num_blocks(), scan.shipped));
    }
    for (uint64_t b = e.start_block(); b < e.start_block() + e.num_blocks(); ++b) {
      if (scan.written[b]) return Invalid(fmt::format("block {} is written twice", b));
      scan.written[b] = true;
    }
    blocks += e.num_blocks();
  }
  scan.covered += blocks;
  if (blocks * kBlockSize > kMaxOpDstBytes) {
    return Invalid(fmt::format("writes {} bytes, limit {}", blocks * kBlockSize, kMaxOpDstBytes));
  }
  return blocks;
}

// The data blob: present (within the limit, hashed, next in the blob area) or absent by type.
Status CheckData(const Operation& op, const OperationRule& rule, uint64_t dst_blocks,
                 uint64_t& blob_cursor) {
  if (!rule.has_data) {
    if (op.data_length() != 0 || !op.data_sha256().empty() || op.data_offset() != 0) {
      return Invalid(fmt::format("{} must carry no data", rule.name));
    }
    return {};
  }
  if (op.data_length() == 0) return Invalid("has no data");
  if (op.data_length() > kMaxOpDataBytes) {
    return Invalid(
        fmt::format("data length {} exceeds limit {}", op.data_length(), kMaxOpDataBytes));
  }
  if (rule.data_is_destination && op.data_length() != dst_blocks * kBlockSize) {
    return Invalid(fmt::format("{} data length differs from its destination size", rule.name));
  }
  if (op.data_sha256().size() != 32) return Invalid("data SHA-256 is not 32 bytes");
  if (op.data_offset() != blob_cursor) {
    return Invalid(fmt::format(
        "data offset {} is not the expected {} (blobs must be contiguous and in operation order)",
        op.data_offset(), blob_cursor));
  }
  blob_cursor += op.data_length();
  return {};
}

// Source extents inside the old image, hashed, within the limit; none for other operations.
Status CheckSource(const Operation& op, const OperationRule& rule, uint64_t dst_blocks,
                   const OperationScan& scan) {
  if (!rule.reads_source) {
    if (op.src_extents_size() != 0 || !op.src_sha256().empty()) {
      return Invalid("non-source operation has source extents");
    }
    return {};
  }
  if (!scan.is_delta) return Invalid("source operation in a payload without an old image");
  if (op.src_extents_size() == 0) return Invalid("source operation without source extents");
  if (op.src_sha256().size() != 32) return Invalid("source SHA-256 is not 32 bytes");
  uint64_t blocks = 0;
  for (const auto& e : op.src_extents()) {
    if (e.num_blocks() == 0) return Invalid("empty source extent");
    if (e.start_block() >= scan.old_blocks || e.num_blocks() > scan.old_blocks - e.start_block()) {
      return Invalid(fmt::format("source extent {}+{} outside the {} old blocks", e.start_block(),
                                 e.num_blocks(), scan.old_blocks));
    }
    blocks += e.num_blocks();
  }
  if (blocks * kBlockSize > kMaxOpSrcBytes) {
    return Invalid(
        fmt::format("reads {} source bytes, limit {}", blocks * kBlockSize, kMaxOpSrcBytes));
  }
  if (rule.same_size_source && blocks != dst_blocks) {
    return Invalid(fmt::format("{} source and destination sizes differ", rule.name));
  }
  return {};
}

// The region fields and destination SHA-256 of an expanded-form operation, on it alone.
Status CheckExpandedForm(const Operation& op, const OperationRule& rule) {
  if (rule.expanded == ExpandedForm::kLz4) {
    BASALT_RETURN_IF_ERROR(CheckLz4Fields(op));
  } else if (op.has_src_lz4() || op.has_dst_lz4()) {
    return Invalid(fmt::format("{} carries LZ4 region fields", rule.name));
  }
  if (rule.expanded == ExpandedForm::kGzip) {
    BASALT_RETURN_IF_ERROR(CheckGzipFields(op));
  } else if (op.src_gzip_size() != 0 || op.dst_gzip_size() != 0) {
    return Invalid(fmt::format("{} carries gzip region fields", rule.name));
  }
  if (rule.expanded == ExpandedForm::kNone && !op.dst_sha256().empty()) {
    return Invalid(fmt::format("{} carries a destination SHA-256", rule.name));
  }
  return {};
}

}  // namespace

Status CheckOperation(const Operation& op, OperationScan& scan) {
  BASALT_RETURN_IF_ERROR(CheckType(op, scan.minor));
  const OperationRule& rule = RuleFor(op.type());
  BASALT_ASSIGN_OR_RETURN(uint64_t dst_blocks, CheckDestination(op, scan));
  BASALT_RETURN_IF_ERROR(CheckData(op, rule, dst_blocks, scan.blob_cursor));
  BASALT_RETURN_IF_ERROR(CheckSource(op, rule, dst_blocks, scan));
  return CheckExpandedForm(op, rule);
}

}  // namespace basalt::payload
