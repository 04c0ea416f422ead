// The release document (payload of releases/<version>/release.json): what a version is (the
// verity root hash its /usr must reproduce, its kernel), where it came from (input digest,
// SBOM digest) and the payloads that install it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/uki_measurements.h"
#include "common/error.h"
#include "common/time_util.h"

namespace basalt::repo {

enum class PayloadKind { kFull, kDelta };
std::string_view PayloadKindName(PayloadKind kind);

struct PayloadRef {
  PayloadKind kind = PayloadKind::kFull;
  std::string from_version;    // delta only
  std::string from_root_hash;  // delta only: the source /usr root hash the delta applies to
  std::string url;             // relative to the repository root
  uint64_t size = 0;
  std::string sha256;  // lower-case hex

  bool operator==(const PayloadRef&) const = default;
};

struct UsrInfo {
  std::string root_hash;  // hex
  std::string salt;       // hex
  std::string hash_algorithm = "sha256";
  uint64_t data_block_size = 4096;
  uint64_t hash_block_size = 4096;
  uint64_t data_size = 0;    // bytes of filesystem data covered by the tree
  uint64_t hash_offset = 0;  // where the hash tree starts in the partition
  bool operator==(const UsrInfo&) const = default;
};

struct KernelInfo {
  std::string version;
  std::string sha256;
  // Minor 2: the image's own kernel arguments (common/kernel_cmdline.h), which hosts put in the
  // new slot's boot entry. Absent: the release does not say (hosts keep only what they carry
  // over from their running command line).
  std::optional<std::string> cmdline;
  bool operator==(const KernelInfo&) const = default;
};

// A boot artifact the release's payloads carry (payload/boot_artifacts.h): its size and
// SHA-256, which the payload's signed manifest must repeat.
struct BootArtifactInfo {
  uint64_t size = 0;
  std::string sha256;  // lower-case hex
  // Minor 4, UKIs only: what a host booting it measures into its TPM (attest/uki_measurements.h,
  // docs/attestation.md). Absent: the release predicts nothing (built before it was recorded).
  std::optional<attest::UkiMeasurements> measurements = {};
  bool operator==(const BootArtifactInfo&) const = default;
};

// Minor 3: what the release installs outside /usr. `uki`: the uki boot backend's signed Unified
// Kernel Image of each slot ("A", "B"), payload artifacts "uki-A" and "uki-B".
struct BootInfo {
  std::map<std::string, BootArtifactInfo> uki;
  bool operator==(const BootInfo&) const = default;
};

struct Release {
  std::string version;
  TimePoint created{};
  UsrInfo usr;
  KernelInfo kernel;
  std::vector<PayloadRef> payloads;
  std::string sbom_sha256;
  std::string input_digest;  // the builder's digest of its inputs: traces a host to its build
  // Minor 1: the repository it was published to (its root document's `repository`).
  std::optional<std::string> repository;
  std::optional<BootInfo> boot;  // minor 3; absent: the release installs nothing outside /usr

  bool operator==(const Release&) const = default;

  const PayloadRef* FullPayload() const;
};

// Strict: unknown, missing or mistyped fields are errors naming the field.
Result<Release> ParseRelease(std::string_view body);
std::string SerializeRelease(const Release& release);

}  // namespace basalt::repo
