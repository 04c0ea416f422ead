#include "payload/format.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "common/hash.h"
#include "payload/lz4_region.h"

namespace basalt::payload {
namespace {

void PutLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetLe32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}
uint64_t GetLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

// Names and versions end up in logs, JSON and terminals: printable ASCII only.
bool IsPrintableAscii(const std::string& s, size_t max_len) {
  return s.size() <= max_len &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

Status ValidateRegion(const proto::Lz4Region& r, uint64_t bytes, std::string_view side) {
  if (r.compressed_length() < 8 || r.offset() > bytes ||
      r.compressed_length() > bytes - r.offset()) {
    return Failf(ErrorKind::kInvalidInput, "{} LZ4 stream [{}, +{}) is not inside its {} bytes",
                 side, r.offset(), r.compressed_length(), bytes);
  }
  if (r.decompressed_length() == 0 || r.decompressed_length() > kMaxLz4ExpandedBytes) {
    return Failf(ErrorKind::kInvalidInput, "{} LZ4 stream decompresses to {} bytes, limit {}", side,
                 r.decompressed_length(), kMaxLz4ExpandedBytes);
  }
  return {};
}

Status ValidateLz4Regions(const Operation& op) {
  if (!op.has_src_lz4() || !op.has_dst_lz4()) {
    return Fail(ErrorKind::kInvalidInput, "SOURCE_LZ4_PATCH without its LZ4 regions");
  }
  BASALT_RETURN_IF_ERROR(
      ValidateRegion(op.src_lz4(), ExtentBlocks(op.src_extents()) * kBlockSize, "source"));
  BASALT_RETURN_IF_ERROR(
      ValidateRegion(op.dst_lz4(), ExtentBlocks(op.dst_extents()) * kBlockSize, "destination"));
  if (op.dst_lz4().level() < 1 || op.dst_lz4().level() > 12) {
    return Failf(ErrorKind::kInvalidInput, "LZ4 level {} is outside 1..12", op.dst_lz4().level());
  }
  if (op.src_lz4().level() != 0) {
    return Fail(ErrorKind::kInvalidInput, "source LZ4 region carries a level");
  }
  if (op.dst_sha256().size() != 32) {
    return Fail(ErrorKind::kInvalidInput, "destination SHA-256 is not 32 bytes");
  }
  return {};
}

Status ValidateGzipRegions(const Operation& op) {
  if (op.src_gzip_size() == 0 || op.dst_gzip_size() == 0) {
    return Fail(ErrorKind::kInvalidInput, "SOURCE_GZIP_PATCH without its gzip regions");
  }
  if (auto s = CheckGzipRegions(GzipRegionsOf(op.src_gzip()),
                                ExtentBlocks(op.src_extents()) * kBlockSize);
      !s) {
    return Fail(ErrorKind::kInvalidInput, "source " + s.error().message());
  }
  if (auto s = CheckGzipRegions(GzipRegionsOf(op.dst_gzip()),
                                ExtentBlocks(op.dst_extents()) * kBlockSize);
      !s) {
    return Fail(ErrorKind::kInvalidInput, "destination " + s.error().message());
  }
  for (const auto& r : op.dst_gzip()) {
    if (r.level() < 1 || r.level() > 9) {
      return Failf(ErrorKind::kInvalidInput, "gzip level {} is outside 1..9", r.level());
    }
  }
  for (const auto& r : op.src_gzip()) {
    if (r.level() != 0) return Fail(ErrorKind::kInvalidInput, "source gzip region carries a level");
  }
  if (op.dst_sha256().size() != 32) {
    return Fail(ErrorKind::kInvalidInput, "destination SHA-256 is not 32 bytes");
  }
  return {};
}

Status ValidatePartition(const Partition& part, uint32_t minor, uint64_t* blob_cursor,
                         size_t index) {
  auto fail = [&](std::string msg) {
    return Fail(ErrorKind::kInvalidInput,
                fmt::format("manifest: partition {} ({}): {}", index, part.name(), msg));
  };
  if (part.name().empty() || !IsPrintableAscii(part.name(), 64)) {
    return Failf(ErrorKind::kInvalidInput, "manifest: partition {} has no name or a bad one",
                 index);
  }
  if (part.new_size() == 0 || part.new_size() % kBlockSize != 0) {
    return fail(
        fmt::format("new size {} is not a positive multiple of {}", part.new_size(), kBlockSize));
  }
  if (part.new_size() > kMaxPartitionSize) {
    return fail(
        fmt::format("new size {} exceeds the limit of {}", part.new_size(), kMaxPartitionSize));
  }
  if (part.new_sha256().size() != 32) return fail("new SHA-256 is not 32 bytes");
  bool is_delta = !part.old_sha256().empty();
  if (is_delta) {
    if (part.old_sha256().size() != 32) return fail("old SHA-256 is not 32 bytes");
    if (part.old_size() == 0 || part.old_size() % kBlockSize != 0 ||
        part.old_size() > kMaxPartitionSize) {
      return fail(fmt::format("old size {} is invalid", part.old_size()));
    }
  } else if (part.old_size() != 0) {
    return fail("old size given without an old SHA-256");
  }
  if (!part.has_verity()) return fail("has no verity parameters");
  const auto& v = part.verity();
  auto alg = ParseHashAlgorithm(v.hash_algorithm());
  if (!alg) {
    return fail(IsPrintableAscii(v.hash_algorithm(), 32)
                    ? fmt::format("verity: unknown hash algorithm '{}'", v.hash_algorithm())
                    : std::string("verity: unknown hash algorithm"));
  }
  if (v.data_block_size() != kBlockSize || v.hash_block_size() != kBlockSize) {
    return fail(fmt::format("verity: block sizes {}/{} unsupported (only {})", v.data_block_size(),
                            v.hash_block_size(), kBlockSize));
  }
  if (v.salt().size() > 256) return fail("verity: salt longer than 256 bytes");
  if (v.root_hash().size() != HashDigestSize(*alg)) {
    return fail("verity: root hash has the wrong length for its algorithm");
  }
  if (v.data_blocks() == 0 || v.hash_offset() % kBlockSize != 0 ||
      v.data_blocks() > v.hash_offset() / kBlockSize ||
      // One data block has no tree: its hash is the root (as veritysetup computes it).
      v.hash_offset() + (v.has_superblock() ? kBlockSize : 0) + (v.data_blocks() > 1 ? 1 : 0) >
          part.new_size()) {
    return fail(fmt::format("verity: data blocks {} / hash offset {} do not fit new size {}",
                            v.data_blocks(), v.hash_offset(), part.new_size()));
  }

  const uint64_t shipped = ShippedBlocks(part);
  const uint64_t old_blocks = part.old_size() / kBlockSize;
  std::vector<bool> written(shipped, false);
  uint64_t covered = 0;
  for (int i = 0; i < part.operations_size(); ++i) {
    const Operation& op = part.operations(i);
    auto opfail = [&](std::string msg) { return fail(fmt::format("operation {}: {}", i, msg)); };
    if (!Operation::Type_IsValid(op.type())) {
      return opfail(fmt::format("unknown type {}", static_cast<int>(op.type())));
    }
    const bool source_op = IsSourceOperation(op.type());
    if (minor < MinorVersionFor(op)) {
      return opfail(fmt::format("{}{} needs minor version {}, payload declares {}",
                                OperationTypeName(op.type()),
                                op.expanded_patch() == Operation::BSDIFF_XZ ? " (BSDIFF_XZ)" : "",
                                MinorVersionFor(op), minor));
    }
    if (!Operation::ExpandedPatch_IsValid(op.expanded_patch())) {
      return opfail(
          fmt::format("unknown expanded patch {}", static_cast<int>(op.expanded_patch())));
    }
    if (op.expanded_patch() != Operation::ZSTD_PREFIX && op.type() != Operation::SOURCE_LZ4_PATCH &&
        op.type() != Operation::SOURCE_GZIP_PATCH) {
      return opfail(
          fmt::format("{} carries an expanded patch format", OperationTypeName(op.type())));
    }
    if (op.dst_extents_size() == 0) return opfail("has no destination extents");
    uint64_t dst_blocks = 0;
    for (const auto& e : op.dst_extents()) {
      if (e.num_blocks() == 0) return opfail("empty destination extent");
      if (e.start_block() >= shipped || e.num_blocks() > shipped - e.start_block()) {
        return opfail(fmt::format("destination extent {}+{} outside the {} writable blocks",
                                  e.start_block(), e.num_blocks(), shipped));
      }
      for (uint64_t b = e.start_block(); b < e.start_block() + e.num_blocks(); ++b) {
        if (written[b]) return opfail(fmt::format("block {} is written twice", b));
        written[b] = true;
      }
      dst_blocks += e.num_blocks();
    }
    covered += dst_blocks;
    if (dst_blocks * kBlockSize > kMaxOpDstBytes) {
      return opfail(
          fmt::format("writes {} bytes, limit {}", dst_blocks * kBlockSize, kMaxOpDstBytes));
    }
    // Data.
    const bool has_data = op.type() != Operation::ZERO && op.type() != Operation::SOURCE_COPY;
    if (has_data) {
      if (op.data_length() == 0) return opfail("has no data");
      if (op.data_length() > kMaxOpDataBytes) {
        return opfail(
            fmt::format("data length {} exceeds limit {}", op.data_length(), kMaxOpDataBytes));
      }
      if (op.type() == Operation::REPLACE && op.data_length() != dst_blocks * kBlockSize) {
        return opfail("REPLACE data length differs from its destination size");
      }
      if (op.data_sha256().size() != 32) return opfail("data SHA-256 is not 32 bytes");
      if (op.data_offset() != *blob_cursor) {
        return opfail(
            fmt::format("data offset {} is not the expected {} (blobs must be "
                        "contiguous and in operation order)",
                        op.data_offset(), *blob_cursor));
      }
      *blob_cursor += op.data_length();
    } else if (op.data_length() != 0 || !op.data_sha256().empty() || op.data_offset() != 0) {
      return opfail(fmt::format("{} must carry no data", OperationTypeName(op.type())));
    }
    // Source.
    if (source_op) {
      if (!is_delta) return opfail("source operation in a payload without an old image");
      if (op.src_extents_size() == 0) return opfail("source operation without source extents");
      if (op.src_sha256().size() != 32) return opfail("source SHA-256 is not 32 bytes");
      uint64_t src_blocks = 0;
      for (const auto& e : op.src_extents()) {
        if (e.num_blocks() == 0) return opfail("empty source extent");
        if (e.start_block() >= old_blocks || e.num_blocks() > old_blocks - e.start_block()) {
          return opfail(fmt::format("source extent {}+{} outside the {} old blocks",
                                    e.start_block(), e.num_blocks(), old_blocks));
        }
        src_blocks += e.num_blocks();
      }
      if (src_blocks * kBlockSize > kMaxOpSrcBytes) {
        return opfail(fmt::format("reads {} source bytes, limit {}", src_blocks * kBlockSize,
                                  kMaxOpSrcBytes));
      }
      if (op.type() == Operation::SOURCE_COPY && src_blocks != dst_blocks) {
        return opfail("SOURCE_COPY source and destination sizes differ");
      }
    } else if (op.src_extents_size() != 0 || !op.src_sha256().empty()) {
      return opfail("non-source operation has source extents");
    }
    if (op.type() == Operation::SOURCE_LZ4_PATCH) {
      if (auto s = ValidateLz4Regions(op); !s) return opfail(s.error().message());
    } else if (op.has_src_lz4() || op.has_dst_lz4()) {
      return opfail(fmt::format("{} carries LZ4 region fields", OperationTypeName(op.type())));
    }
    if (op.type() == Operation::SOURCE_GZIP_PATCH) {
      if (auto s = ValidateGzipRegions(op); !s) return opfail(s.error().message());
    } else if (op.src_gzip_size() != 0 || op.dst_gzip_size() != 0) {
      return opfail(fmt::format("{} carries gzip region fields", OperationTypeName(op.type())));
    }
    if (op.type() != Operation::SOURCE_LZ4_PATCH && op.type() != Operation::SOURCE_GZIP_PATCH &&
        !op.dst_sha256().empty()) {
      return opfail(fmt::format("{} carries a destination SHA-256", OperationTypeName(op.type())));
    }
  }
  if (covered != shipped) {
    return fail(
        fmt::format("operations write {} of the {} blocks before the hash tree", covered, shipped));
  }
  return {};
}

}  // namespace

std::array<uint8_t, kHeaderSize> EncodeHeader(const Header& h) {
  std::array<uint8_t, kHeaderSize> out{};
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  PutLe32(out.data() + 8, h.format_version);
  PutLe32(out.data() + 12, h.minor_version);
  PutLe64(out.data() + 16, h.manifest_size);
  PutLe32(out.data() + 24, h.signatures_size);
  PutLe32(out.data() + 28, 0);
  return out;
}

Result<Header> DecodeHeader(std::span<const uint8_t> b) {
  if (b.size() < kHeaderSize) {
    return Failf(ErrorKind::kInvalidInput, "payload header: {} bytes, need {} (truncated)",
                 b.size(), kHeaderSize);
  }
  if (!std::equal(kMagic.begin(), kMagic.end(), b.begin())) {
    return Fail(ErrorKind::kInvalidInput, "payload header: bad magic (not a Basalt payload)");
  }
  Header h;
  h.format_version = GetLe32(b.data() + 8);
  h.minor_version = GetLe32(b.data() + 12);
  h.manifest_size = GetLe64(b.data() + 16);
  h.signatures_size = GetLe32(b.data() + 24);
  if (h.format_version != kFormatVersion) {
    return Failf(ErrorKind::kUnsupported,
                 "payload header: format version {} is not supported (this build reads {})",
                 h.format_version, kFormatVersion);
  }
  if (h.minor_version == 0) {
    return Fail(ErrorKind::kUnsupported, "payload header: minor version 0 is not defined");
  }
  if (h.minor_version > kMaxSupportedMinor) {
    return Failf(ErrorKind::kUnsupported,
                 "payload header: minor version {} {} implement (it supports minor versions "
                 "1..{}); update basalt first",
                 h.minor_version, kNewerMinorVersion, kMaxSupportedMinor);
  }
  if (h.manifest_size == 0 || h.manifest_size > kMaxManifestSize) {
    return Failf(ErrorKind::kInvalidInput, "payload header: manifest size {} out of range (1..{})",
                 h.manifest_size, kMaxManifestSize);
  }
  if (h.signatures_size == 0) {
    return Fail(ErrorKind::kIntegrity, "payload header: the payload carries no signature block");
  }
  if (h.signatures_size > kMaxSignaturesSize) {
    return Failf(ErrorKind::kInvalidInput, "payload header: signature block size {} exceeds {}",
                 h.signatures_size, kMaxSignaturesSize);
  }
  if (GetLe32(b.data() + 28) != 0) {
    return Fail(ErrorKind::kInvalidInput, "payload header: reserved padding bytes are not zero");
  }
  return h;
}

std::vector<uint8_t> SignedMessage(std::span<const uint8_t> header_bytes,
                                   std::span<const uint8_t> manifest_bytes) {
  std::vector<uint8_t> msg(kSignedHeaderSize + manifest_bytes.size());
  std::memcpy(msg.data(), header_bytes.data(), kSignedHeaderSize);
  if (!manifest_bytes.empty()) {
    std::memcpy(msg.data() + kSignedHeaderSize, manifest_bytes.data(), manifest_bytes.size());
  }
  return msg;
}

std::vector<uint8_t> EncodeSignatures(const std::vector<Signature>& signatures) {
  proto::Signatures block;
  for (const auto& s : signatures) {
    auto* p = block.add_signatures();
    p->set_key_id(s.key_id);
    p->set_signature(std::string(s.bytes.begin(), s.bytes.end()));
  }
  std::string out = block.SerializeAsString();
  return std::vector<uint8_t>(out.begin(), out.end());
}

Result<std::vector<Signature>> DecodeSignatures(std::span<const uint8_t> bytes) {
  proto::Signatures block;
  if (!block.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Fail(ErrorKind::kIntegrity, "payload signature block is not a valid Signatures message");
  }
  if (block.signatures_size() == 0) {
    return Fail(ErrorKind::kIntegrity, "payload signature block holds no signatures");
  }
  std::vector<Signature> out;
  for (const auto& s : block.signatures()) {
    if (!IsPrintableAscii(s.key_id(), 128)) {
      return Fail(ErrorKind::kIntegrity, "payload signature block: a key id is not printable");
    }
    out.push_back(
        Signature{s.key_id(), std::vector<uint8_t>(s.signature().begin(), s.signature().end())});
  }
  return out;
}

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
  if (cursor != m.blobs_size()) {
    return Failf(ErrorKind::kInvalidInput,
                 "manifest: operations hold {} data bytes but the blob area is {} bytes", cursor,
                 m.blobs_size());
  }
  return {};
}

std::string_view OperationTypeName(Operation::Type type) {
  switch (type) {
    case Operation::REPLACE:
      return "REPLACE";
    case Operation::REPLACE_ZSTD:
      return "REPLACE_ZSTD";
    case Operation::REPLACE_XZ:
      return "REPLACE_XZ";
    case Operation::ZERO:
      return "ZERO";
    case Operation::SOURCE_COPY:
      return "SOURCE_COPY";
    case Operation::SOURCE_ZSTD_PATCH:
      return "SOURCE_ZSTD_PATCH";
    case Operation::SOURCE_BSDIFF:
      return "SOURCE_BSDIFF";
    case Operation::SOURCE_LZ4_PATCH:
      return "SOURCE_LZ4_PATCH";
    case Operation::SOURCE_BSDIFF_XZ:
      return "SOURCE_BSDIFF_XZ";
    case Operation::SOURCE_GZIP_PATCH:
      return "SOURCE_GZIP_PATCH";
    default:
      return "UNKNOWN";
  }
}

bool IsSourceOperation(Operation::Type type) {
  return type == Operation::SOURCE_COPY || type == Operation::SOURCE_ZSTD_PATCH ||
         type == Operation::SOURCE_BSDIFF || type == Operation::SOURCE_LZ4_PATCH ||
         type == Operation::SOURCE_BSDIFF_XZ || type == Operation::SOURCE_GZIP_PATCH;
}

uint32_t MinorVersionFor(const Operation& op) {
  const Operation::Type type = op.type();
  if (op.expanded_patch() == Operation::BSDIFF_XZ) return kMinorDelta4;
  if (type == Operation::SOURCE_LZ4_PATCH || type == Operation::SOURCE_BSDIFF_XZ) {
    return kMinorDelta3;
  }
  if (type == Operation::SOURCE_GZIP_PATCH) return kMinorDelta4;
  return IsSourceOperation(type) ? kMinorDelta : kMinorFull;
}

std::vector<GzipRegion> GzipRegionsOf(
    const google::protobuf::RepeatedPtrField<proto::GzipRegion>& regions) {
  std::vector<GzipRegion> out;
  for (const auto& r : regions) {
    GzipRegion g;
    for (const auto& p : r.pieces())
      g.pieces.push_back({p.offset(), p.length()});
    g.decompressed_length = r.decompressed_length();
    g.level = static_cast<int>(r.level());
    out.push_back(std::move(g));
  }
  return out;
}

uint64_t ExtentBlocks(const google::protobuf::RepeatedPtrField<proto::Extent>& extents) {
  uint64_t n = 0;
  for (const auto& e : extents)
    n += e.num_blocks();
  return n;
}

uint64_t ShippedBlocks(const Partition& part) {
  return part.verity().hash_offset() / kBlockSize + (part.verity().has_superblock() ? 1 : 0);
}

}  // namespace basalt::payload
