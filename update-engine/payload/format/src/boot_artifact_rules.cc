// CheckBootArtifacts: the manifest rules of boot artifacts (docs/payload-format.md "Boot
// artifacts").
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "payload/boot_artifacts.h"
#include "payload/operations.h"
#include "text.h"

namespace basalt::payload {
namespace {

std::unexpected<Error> Invalid(int index, std::string_view message) {
  return Fail(ErrorKind::kInvalidInput,
              fmt::format("manifest: boot artifact {}: {}", index, message));
}

bool KnownName(const std::string& name) {
  return std::find(kBootArtifactNames.begin(), kBootArtifactNames.end(), name) !=
         kBootArtifactNames.end();
}

}  // namespace

std::string UkiArtifactName(std::string_view slot_name) {
  return fmt::format("uki-{}", slot_name);
}

const BootArtifact* FindBootArtifact(const proto::Manifest& manifest, std::string_view name) {
  for (const BootArtifact& a : manifest.boot_artifacts()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

Status CheckBootArtifacts(const proto::Manifest& m, uint32_t minor, uint64_t* blob_cursor) {
  if (m.boot_artifacts_size() == 0) return {};
  if (minor < kMinorBootArtifacts) {
    return Failf(ErrorKind::kInvalidInput,
                 "manifest: boot artifacts need minor version {}, payload declares {}",
                 kMinorBootArtifacts, minor);
  }
  if (static_cast<size_t>(m.boot_artifacts_size()) > kBootArtifactNames.size()) {
    return Failf(ErrorKind::kInvalidInput, "manifest: {} boot artifacts, at most {}",
                 m.boot_artifacts_size(), kBootArtifactNames.size());
  }
  std::set<std::string> earlier;
  for (int i = 0; i < m.boot_artifacts_size(); ++i) {
    const BootArtifact& a = m.boot_artifacts(i);
    if (!KnownName(a.name())) {
      return Invalid(i, IsPrintableAscii(a.name(), 32) ? fmt::format("unknown name '{}'", a.name())
                                                       : std::string("unknown name"));
    }
    if (earlier.contains(a.name())) return Invalid(i, fmt::format("{} appears twice", a.name()));
    if (a.size() == 0 || a.size() > kMaxBootArtifactSize) {
      return Invalid(i, fmt::format("size {} is outside 1..{}", a.size(), kMaxBootArtifactSize));
    }
    if (a.sha256().size() != 32) return Invalid(i, "SHA-256 is not 32 bytes");
    switch (a.encoding()) {
      case BootArtifact::ZSTD:
        if (!a.dictionary().empty()) return Invalid(i, "ZSTD carries a dictionary");
        break;
      case BootArtifact::ZSTD_PREFIX:
        if (!earlier.contains(a.dictionary())) {
          return Invalid(i, "ZSTD_PREFIX dictionary is not an earlier boot artifact");
        }
        break;
      default:
        return Invalid(i, fmt::format("unknown encoding {}", static_cast<int>(a.encoding())));
    }
    if (a.data_length() == 0 || a.data_length() > kMaxBootArtifactDataBytes) {
      return Invalid(i, fmt::format("data length {} is outside 1..{}", a.data_length(),
                                    kMaxBootArtifactDataBytes));
    }
    if (a.data_sha256().size() != 32) return Invalid(i, "data SHA-256 is not 32 bytes");
    // Contiguous after the operations' data: inside the blob area (ValidateManifest checks the
    // total against blobs_size) and overlapping nothing else.
    if (a.data_offset() != *blob_cursor) {
      return Invalid(i, fmt::format("data offset {} is not {}, where the previous data ends",
                                    a.data_offset(), *blob_cursor));
    }
    *blob_cursor += a.data_length();
    earlier.insert(a.name());
  }
  return {};
}

}  // namespace basalt::payload
