// The container around the manifest: header, signed message, signature block; and the small
// helpers every side uses on a manifest.
#include "payload/format.h"

#include <algorithm>
#include <cstring>

#include "text.h"

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
