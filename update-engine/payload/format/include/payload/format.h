// The payload container: a fixed header, the protobuf manifest, the signature block and the
// blob area (docs/payload-format.md). Everything here parses untrusted bytes and either
// returns a fully validated value or an error that names the problem.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/keyring.h"
#include "payload/gzip_region.h"
#include "payload/operations.h"
#include "update-engine/proto/payload.pb.h"

namespace basalt::payload {

inline constexpr std::array<uint8_t, 8> kMagic = {'B', 'A', 'S', 'A', 'L', 'T', 'P', 'L'};
inline constexpr uint32_t kFormatVersion = 1;
// The minor versions (kMinorFull ... kMaxSupportedMinor) are in payload/operations.h, with the
// operation types they introduce.

// In the header error for a minor version above kMaxSupportedMinor: a newer generator's delta,
// which the daemon answers by taking the full payload instead.
inline constexpr std::string_view kNewerMinorVersion = "needs operations this applier does not";
inline constexpr size_t kHeaderSize = 32;
inline constexpr size_t kSignedHeaderSize = 24;  // header bytes covered by the signatures
inline constexpr uint32_t kBlockSize = 4096;

// Limits that keep an applier's memory bounded whatever the payload says.
inline constexpr uint64_t kMaxManifestSize = 64ull << 20;
inline constexpr uint64_t kMaxSignaturesSize = 1ull << 20;
inline constexpr uint64_t kMaxOpDstBytes = 32ull << 20;
inline constexpr uint64_t kMaxOpDataBytes = 32ull << 20;
inline constexpr uint64_t kMaxOpSrcBytes = 64ull << 20;
inline constexpr uint64_t kMaxPartitionSize = 64ull << 30;

using proto::Manifest;
using proto::Operation;
using proto::Partition;

struct Header {
  uint32_t format_version = kFormatVersion;
  uint32_t minor_version = kMinorFull;
  uint64_t manifest_size = 0;
  uint32_t signatures_size = 0;

  uint64_t blobs_offset() const { return kHeaderSize + manifest_size + signatures_size; }
};

std::array<uint8_t, kHeaderSize> EncodeHeader(const Header& header);
// Rejects a wrong magic, an unknown major format version, a minor version newer than this
// applier, oversize lengths and nonzero reserved bytes.
Result<Header> DecodeHeader(std::span<const uint8_t> bytes);

// The exact bytes the signatures cover: header bytes [0, 24) followed by the manifest.
std::vector<uint8_t> SignedMessage(std::span<const uint8_t> header_bytes,
                                   std::span<const uint8_t> manifest_bytes);

std::vector<uint8_t> EncodeSignatures(const std::vector<Signature>& signatures);
Result<std::vector<Signature>> DecodeSignatures(std::span<const uint8_t> bytes);

// Parses and validates the manifest against the header's minor version: block size,
// extents inside their partitions, no overlapping or missing destination blocks, data
// offsets contiguous and in order, hashes of the right size, per-operation limits.
Result<Manifest> DecodeManifest(std::span<const uint8_t> bytes, uint32_t minor_version);
Status ValidateManifest(const Manifest& manifest, uint32_t minor_version);

// OperationTypeName, IsSourceOperation and MinorVersionFor: payload/operations.h.
uint64_t ExtentBlocks(const google::protobuf::RepeatedPtrField<proto::Extent>& extents);
std::vector<GzipRegion> GzipRegionsOf(
    const google::protobuf::RepeatedPtrField<proto::GzipRegion>& regions);

// Blocks of a partition the operations must cover: the data area, plus the verity superblock
// when there is one. The hash tree after it is rebuilt by the applier.
uint64_t ShippedBlocks(const Partition& partition);

}  // namespace basalt::payload
