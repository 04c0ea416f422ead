#include "payload/boot_artifact_reader.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/atomic_file.h"
#include "common/hex.h"
#include "digests.h"
#include "payload/boot_artifacts.h"
#include "payload/codec.h"

namespace basalt::payload {
namespace {

// The artifact and, transitively, the ones it is patched from (the manifest rules make every
// dictionary an earlier artifact, so the walk ends).
std::set<std::string> NeededFor(const Manifest& m, const BootArtifact& target) {
  std::set<std::string> needed = {target.name()};
  for (int i = m.boot_artifacts_size() - 1; i >= 0; --i) {
    const BootArtifact& a = m.boot_artifacts(i);
    if (needed.contains(a.name()) && a.encoding() == BootArtifact::ZSTD_PREFIX) {
      needed.insert(a.dictionary());
    }
  }
  return needed;
}

}  // namespace

Result<std::vector<uint8_t>> ReadBootArtifact(PayloadSource& src, const PayloadHead& head,
                                              std::string_view name) {
  const Manifest& m = head.manifest;
  const BootArtifact* target = FindBootArtifact(m, name);
  if (target == nullptr) {
    return Failf(ErrorKind::kNotFound, "payload for {} carries no boot artifact {}", m.version(),
                 name);
  }
  const uint64_t total = head.header.blobs_offset() + m.blobs_size();
  if (auto size = src.Size(); size && *size != total) {
    return Failf(ErrorKind::kInvalidInput,
                 "payload is {} bytes but its signed manifest describes {} ({})", *size, total,
                 *size < total ? "truncated" : "unexpected data appended");
  }
  const std::set<std::string> needed = NeededFor(m, *target);
  std::map<std::string, std::vector<uint8_t>> decoded;
  uint64_t pos = 0;  // in the blob area
  std::vector<uint8_t> blob;
  for (const BootArtifact& a : m.boot_artifacts()) {
    if (!needed.contains(a.name())) continue;
    BASALT_RETURN_IF_ERROR(src.Skip(a.data_offset() - pos));
    blob.resize(a.data_length());
    BASALT_RETURN_IF_ERROR(
        ReadExact(src, blob, head.header.blobs_offset() + a.data_offset(), "boot artifact data"));
    pos = a.data_offset() + a.data_length();
    const std::string what = fmt::format("boot artifact {}", a.name());
    BASALT_RETURN_IF_ERROR(
        CheckDigest(blob, a.data_sha256(), ErrorKind::kIntegrity, what + " data"));
    std::vector<uint8_t> out(a.size());
    std::span<const uint8_t> prefix;
    if (a.encoding() == BootArtifact::ZSTD_PREFIX) prefix = decoded.at(a.dictionary());
    if (auto s = ZstdDecompressExact(blob, out, prefix); !s) {
      return std::unexpected(std::move(s).error().WithContext(what));
    }
    BASALT_RETURN_IF_ERROR(CheckDigest(out, a.sha256(), ErrorKind::kIntegrity, what));
    if (&a == target) return out;
    decoded[a.name()] = std::move(out);
  }
  return Failf(ErrorKind::kInternal, "boot artifact {} was not read", name);
}

Result<uint64_t> CheckBootArtifactBlobs(PayloadSource& src, const PayloadHead& head) {
  std::vector<uint8_t> buf(1 << 20);
  uint64_t read = 0;
  for (const BootArtifact& a : head.manifest.boot_artifacts()) {
    Hasher h(HashAlgorithm::kSha256);
    for (uint64_t done = 0; done < a.data_length();) {
      const auto piece =
          std::span(buf.data(), std::min<uint64_t>(buf.size(), a.data_length() - done));
      BASALT_RETURN_IF_ERROR(ReadExact(
          src, piece, head.header.blobs_offset() + a.data_offset() + done, "boot artifact data"));
      h.Update(piece);
      done += piece.size();
    }
    Sha256Digest got{};
    h.Final(got.data());
    if (HexOf(a.data_sha256()) != ToHex(got)) {
      return Failf(ErrorKind::kIntegrity,
                   "boot artifact {} data: SHA-256 {} does not match the signed {} (payload "
                   "corrupted or tampered)",
                   a.name(), ToHex(got), HexOf(a.data_sha256()));
    }
    read += a.data_length();
  }
  return read;
}

Result<ExtractedBootArtifact> ExtractBootArtifact(const std::string& payload_path,
                                                  const Keyring& keyring, size_t threshold,
                                                  std::string_view name, const std::string& dest) {
  auto run = [&]() -> Result<ExtractedBootArtifact> {
    BASALT_ASSIGN_OR_RETURN(auto src, FilePayloadSource::Open(payload_path));
    BASALT_ASSIGN_OR_RETURN(PayloadHead head, ReadHead(*src, &keyring, threshold));
    BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadBootArtifact(*src, head, name));
    BASALT_RETURN_IF_ERROR(WriteFileAtomic(dest, bytes, 0644));
    return ExtractedBootArtifact{bytes.size(), Sha256(bytes)};
  };
  auto r = run();
  if (!r) {
    return std::unexpected(std::move(r).error().WithContext(
        fmt::format("extract boot artifact {} from {}", name, payload_path)));
  }
  return r;
}

}  // namespace basalt::payload
