// What the format says about each payload operation type, in one table: the manifest rules
// (format), the applier's dispatch (consumer) and the generator's choices all read it, so a new
// type in payload.proto is a build error until it has its row here and its executor in the
// consumer (CheckOneRowPerType below), instead of a `default:` branch somewhere that still
// compiles. docs/payload-format.md is the prose of this table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "update-engine/proto/payload.pb.h"

namespace basalt::payload {

using proto::Operation;

// Minor versions name the operation set an applier must implement.
inline constexpr uint32_t kMinorFull = 1;    // REPLACE, REPLACE_ZSTD, REPLACE_XZ, ZERO
inline constexpr uint32_t kMinorDelta = 2;   // + SOURCE_COPY, SOURCE_ZSTD_PATCH, SOURCE_BSDIFF
inline constexpr uint32_t kMinorDelta3 = 3;  // + SOURCE_LZ4_PATCH, SOURCE_BSDIFF_XZ
inline constexpr uint32_t kMinorDelta4 = 4;  // + SOURCE_GZIP_PATCH, expanded BSDIFF_XZ
// + manifest.boot_artifacts (payload/boot_artifacts.h): not an operation, but an applier that
// predates them would skip the signed UKIs a uki host must install.
inline constexpr uint32_t kMinorBootArtifacts = 5;
inline constexpr uint32_t kMaxSupportedMinor = kMinorBootArtifacts;

// Operations that rebuild compressed bytes on the host: their data patches the source's
// expanded form (the compressed regions decompressed) into the destination's, which the host
// recompresses. They name the regions, carry dst_sha256 (checked before anything is written)
// and may choose how the expanded forms are patched (expanded_patch).
enum class ExpandedForm : uint8_t {
  kNone,  // the operation's output is the destination's bytes as they are
  kLz4,   // src_lz4 / dst_lz4: an LZ4 legacy stream (a kernel)
  kGzip,  // src_gzip / dst_gzip: gzip members (`gzip -n`)
};

struct OperationRule {
  Operation::Type type;
  std::string_view name;
  uint32_t min_minor = kMinorFull;   // the lowest minor version whose appliers implement it
  bool has_data = false;             // needs a data blob; otherwise carries none
  bool data_is_destination = false;  // the blob is the destination bytes (its exact size)
  bool reads_source = false;         // a delta's operation: needs src_extents and src_sha256
  bool same_size_source = false;     // its source extents hold as many blocks as its destination
  ExpandedForm expanded = ExpandedForm::kNone;
};

// One row per Operation::Type, in enum order.
inline constexpr std::array<OperationRule, 10> kOperations = {{
    {.type = Operation::REPLACE, .name = "REPLACE", .has_data = true, .data_is_destination = true},
    {.type = Operation::REPLACE_ZSTD, .name = "REPLACE_ZSTD", .has_data = true},
    {.type = Operation::REPLACE_XZ, .name = "REPLACE_XZ", .has_data = true},
    {.type = Operation::ZERO, .name = "ZERO"},
    {.type = Operation::SOURCE_COPY,
     .name = "SOURCE_COPY",
     .min_minor = kMinorDelta,
     .reads_source = true,
     .same_size_source = true},
    {.type = Operation::SOURCE_ZSTD_PATCH,
     .name = "SOURCE_ZSTD_PATCH",
     .min_minor = kMinorDelta,
     .has_data = true,
     .reads_source = true},
    {.type = Operation::SOURCE_BSDIFF,
     .name = "SOURCE_BSDIFF",
     .min_minor = kMinorDelta,
     .has_data = true,
     .reads_source = true},
    {.type = Operation::SOURCE_LZ4_PATCH,
     .name = "SOURCE_LZ4_PATCH",
     .min_minor = kMinorDelta3,
     .has_data = true,
     .reads_source = true,
     .expanded = ExpandedForm::kLz4},
    {.type = Operation::SOURCE_BSDIFF_XZ,
     .name = "SOURCE_BSDIFF_XZ",
     .min_minor = kMinorDelta3,
     .has_data = true,
     .reads_source = true},
    {.type = Operation::SOURCE_GZIP_PATCH,
     .name = "SOURCE_GZIP_PATCH",
     .min_minor = kMinorDelta4,
     .has_data = true,
     .reads_source = true,
     .expanded = ExpandedForm::kGzip},
}};

// How an expanded-form operation's data patches the expanded source.
struct ExpandedPatchRule {
  Operation::ExpandedPatch type;
  std::string_view name;
  uint32_t min_minor = kMinorFull;  // on top of its operation's own
};

// One row per Operation::ExpandedPatch, in enum order.
inline constexpr std::array<ExpandedPatchRule, 2> kExpandedPatches = {{
    {.type = Operation::ZSTD_PREFIX, .name = "ZSTD_PREFIX"},
    {.type = Operation::BSDIFF_XZ, .name = "BSDIFF_XZ", .min_minor = kMinorDelta4},
}};

// Deliberately not constexpr: a table that CheckOneRowPerType rejects calls it, so the build
// fails with its name in the diagnostic.
void TableNeedsOneRowPerEnumValueInEnumOrder();

// Compile-time check of a table indexed by an enum of payload.proto: exactly one row per value,
// row i for value i (protoc's enums here are contiguous from 0; `enum_size` is protoc's
// <Enum>_ARRAYSIZE). Any table with a `type` member: the rules above, the consumer's
// executors. Usable only in constant expressions.
template <typename Row, size_t N>
consteval bool CheckOneRowPerType(const std::array<Row, N>& rows, int enum_size) {
  if (N != static_cast<size_t>(enum_size)) TableNeedsOneRowPerEnumValueInEnumOrder();
  for (size_t i = 0; i < N; ++i) {
    if (static_cast<size_t>(rows[i].type) != i) TableNeedsOneRowPerEnumValueInEnumOrder();
  }
  return true;
}

static_assert(CheckOneRowPerType(kOperations, Operation::Type_ARRAYSIZE));
static_assert(CheckOneRowPerType(kExpandedPatches, Operation::ExpandedPatch_ARRAYSIZE));

// The row of a type; nullptr for a value outside the enum (an untrusted manifest's).
constexpr const OperationRule* FindOperationRule(Operation::Type type) {
  const auto i = static_cast<size_t>(type);
  return i < kOperations.size() ? &kOperations[i] : nullptr;
}
// The row of a valid type (checked by the manifest rules before anything else reads it).
constexpr const OperationRule& RuleFor(Operation::Type type) {
  return kOperations[static_cast<size_t>(type)];
}
constexpr const ExpandedPatchRule* FindExpandedPatchRule(Operation::ExpandedPatch patch) {
  const auto i = static_cast<size_t>(patch);
  return i < kExpandedPatches.size() ? &kExpandedPatches[i] : nullptr;
}

// "UNKNOWN" for a value outside the enum.
constexpr std::string_view OperationTypeName(Operation::Type type) {
  const OperationRule* rule = FindOperationRule(type);
  return rule ? rule->name : "UNKNOWN";
}
constexpr bool IsSourceOperation(Operation::Type type) {
  const OperationRule* rule = FindOperationRule(type);
  return rule && rule->reads_source;
}
// Whether a payload of minor version `minor` may hold operations of this type (the generator's
// --max-minor-version).
constexpr bool AllowedAt(Operation::Type type, uint32_t minor) {
  return RuleFor(type).min_minor <= minor;
}
constexpr bool AllowedAt(Operation::ExpandedPatch patch, uint32_t minor) {
  return kExpandedPatches[static_cast<size_t>(patch)].min_minor <= minor;
}
// The minor version an operation needs: by its type, and for the expanded-form operations by
// how their patch is encoded.
uint32_t MinorVersionFor(const Operation& op);

}  // namespace basalt::payload
