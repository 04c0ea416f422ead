// DecodeManifest and ValidateManifest: the rules every manifest obeys before an applier acts on
// it (docs/payload-format.md "Manifest rules").
#include <fmt/format.h>

#include <set>
#include <string>

#include "common/hash.h"
#include "operation_rules.h"
#include "payload/boot_artifacts.h"
#include "payload/format.h"
#include "text.h"

namespace basalt::payload {
namespace {

// The checks of one partition, each failing with "manifest: partition I (NAME): ...".
class PartitionRules {
 public:
  PartitionRules(const Partition& part, size_t index) : part_(part), index_(index) {}

  Status Name() const;
  Status Sizes() const;
  Status Verity() const;
  // Every operation, then that they write every shipped block. Data offsets continue from
  // `blob_cursor`, which is left after the partition's last blob.
  Status Operations(uint32_t minor, uint64_t* blob_cursor) const;

 private:
  std::unexpected<Error> Invalid(std::string_view message) const {
    return Fail(ErrorKind::kInvalidInput,
                fmt::format("manifest: partition {} ({}): {}", index_, part_.name(), message));
  }

  const Partition& part_;
  size_t index_;
};

Status PartitionRules::Name() const {
  if (part_.name().empty() || !IsPrintableAscii(part_.name(), 64)) {
    return Failf(ErrorKind::kInvalidInput, "manifest: partition {} has no name or a bad one",
                 index_);
  }
  return {};
}

// The new image's size and hash; a delta's old image's too (a full payload names none).
Status PartitionRules::Sizes() const {
  if (part_.new_size() == 0 || part_.new_size() % kBlockSize != 0) {
    return Invalid(
        fmt::format("new size {} is not a positive multiple of {}", part_.new_size(), kBlockSize));
  }
  if (part_.new_size() > kMaxPartitionSize) {
    return Invalid(
        fmt::format("new size {} exceeds the limit of {}", part_.new_size(), kMaxPartitionSize));
  }
  if (part_.new_sha256().size() != 32) return Invalid("new SHA-256 is not 32 bytes");
  if (part_.old_sha256().empty()) {
    if (part_.old_size() != 0) return Invalid("old size given without an old SHA-256");
    return {};
  }
  if (part_.old_sha256().size() != 32) return Invalid("old SHA-256 is not 32 bytes");
  if (part_.old_size() == 0 || part_.old_size() % kBlockSize != 0 ||
      part_.old_size() > kMaxPartitionSize) {
    return Invalid(fmt::format("old size {} is invalid", part_.old_size()));
  }
  return {};
}

// Verity parameters this applier can rebuild, laid out inside the new size.
Status PartitionRules::Verity() const {
  if (!part_.has_verity()) return Invalid("has no verity parameters");
  const auto& v = part_.verity();
  auto alg = ParseHashAlgorithm(v.hash_algorithm());
  if (!alg) {
    return Invalid(IsPrintableAscii(v.hash_algorithm(), 32)
                       ? fmt::format("verity: unknown hash algorithm '{}'", v.hash_algorithm())
                       : std::string("verity: unknown hash algorithm"));
  }
  if (v.data_block_size() != kBlockSize || v.hash_block_size() != kBlockSize) {
    return Invalid(fmt::format("verity: block sizes {}/{} unsupported (only {})",
                               v.data_block_size(), v.hash_block_size(), kBlockSize));
  }
  if (v.salt().size() > 256) return Invalid("verity: salt longer than 256 bytes");
  if (v.root_hash().size() != HashDigestSize(*alg)) {
    return Invalid("verity: root hash has the wrong length for its algorithm");
  }
  // One data block has no tree: its hash is the root (as veritysetup computes it).
  const uint64_t after_offset =
      (v.has_superblock() ? kBlockSize : 0) + (v.data_blocks() > 1 ? 1 : 0);
  // Compared without adding to hash_offset: an offset near 2^64 (untrusted input) would wrap
  // the sum below new_size and pass, and the block map sized from it would not fit in memory.
  if (v.data_blocks() == 0 || v.hash_offset() % kBlockSize != 0 ||
      v.data_blocks() > v.hash_offset() / kBlockSize || v.hash_offset() > part_.new_size() ||
      after_offset > part_.new_size() - v.hash_offset()) {
    return Invalid(fmt::format("verity: data blocks {} / hash offset {} do not fit new size {}",
                               v.data_blocks(), v.hash_offset(), part_.new_size()));
  }
  return {};
}

Status PartitionRules::Operations(uint32_t minor, uint64_t* blob_cursor) const {
  OperationScan scan;
  scan.minor = minor;
  scan.is_delta = !part_.old_sha256().empty();
  scan.shipped = ShippedBlocks(part_);
  scan.old_blocks = part_.old_size() / kBlockSize;
  scan.written.assign(scan.shipped, false);
  scan.blob_cursor = *blob_cursor;
  for (int i = 0; i < part_.operations_size(); ++i) {
    if (auto s = CheckOperation(part_.operations(i), scan); !s) {
      return Invalid(fmt::format("operation {}: {}", i, s.error().message()));
    }
  }
  if (scan.covered != scan.shipped) {
    return Invalid(fmt::format("operations write {} of the {} blocks before the hash tree",
                               scan.covered, scan.shipped));
  }
  *blob_cursor = scan.blob_cursor;
  return {};
}

Status ValidatePartition(const Partition& part, uint32_t minor, uint64_t* blob_cursor,
                         size_t index) {
  const PartitionRules rules(part, index);
  BASALT_RETURN_IF_ERROR(rules.Name());
  BASALT_RETURN_IF_ERROR(rules.Sizes());
  BASALT_RETURN_IF_ERROR(rules.Verity());
  return rules.Operations(minor, blob_cursor);
}

}  // namespace

Result<Manifest> DecodeManifest(std::span<const uint8_t> bytes, uint32_t minor_version) {
  Manifest m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Fail(ErrorKind::kInvalidInput, "payload manifest is not a valid protobuf message");
  }
  BASALT_RETURN_IF_ERROR(ValidateManifest(m, minor_version));
  return m;
}

Status ValidateManifest(const Manifest& m, uint32_t minor_version) {
  if (m.block_size() != kBlockSize) {
    return Failf(ErrorKind::kUnsupported, "manifest: block size {} unsupported (only {})",
                 m.block_size(), kBlockSize);
  }
  if (!IsPrintableAscii(m.version(), 128) || m.version().empty()) {
    return Fail(ErrorKind::kInvalidInput, "manifest: version is empty or not printable ASCII");
  }
  if (!IsPrintableAscii(m.from_version(), 128)) {
    return Fail(ErrorKind::kInvalidInput, "manifest: from_version is not printable ASCII");
  }
  if (m.partitions_size() == 0) return Fail(ErrorKind::kInvalidInput, "manifest: no partitions");
  std::set<std::string> names;
  uint64_t cursor = 0;
  for (int i = 0; i < m.partitions_size(); ++i) {
    if (!names.insert(m.partitions(i).name()).second) {
      return Failf(ErrorKind::kInvalidInput, "manifest: partition {} appears twice",
                   m.partitions(i).name());
    }
    BASALT_RETURN_IF_ERROR(ValidatePartition(m.partitions(i), minor_version, &cursor, i));
  }
  BASALT_RETURN_IF_ERROR(CheckBootArtifacts(m, minor_version, &cursor));
  if (cursor != m.blobs_size()) {
    return Failf(ErrorKind::kInvalidInput,
                 "manifest: operations and boot artifacts hold {} data bytes but the blob area is "
                 "{} bytes",
                 cursor, m.blobs_size());
  }
  return {};
}

}  // namespace basalt::payload
