// `basalt release publish`: turn an image build output into an immutable, signed release in a
// static repository (releases/<version>/release.json, its payloads and its SBOM).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/signing.h"
#include "common/time_util.h"
#include "repo/release.h"

namespace basalt::repo {

// The payload generator as publish sees it; shaped like update-engine/payload's
// GeneratePayload so the real generator plugs in through a one-line adapter.
struct PayloadRequest {
  std::string new_image_dir;
  std::optional<std::string> old_image_dir;  // set for a delta
  std::string output_path;
  std::vector<std::string> keys;  // signing key paths or URIs for the payload manifest
};

struct MadePayload {
  std::string path;
  uint64_t size = 0;
  Sha256Digest sha256{};
  bool is_delta = false;
  std::string to_version, from_version, from_root_hash;
};

class PayloadMaker {
 public:
  virtual ~PayloadMaker() = default;
  virtual Result<MadePayload> Make(const PayloadRequest& request, Logger& log) = 0;
};

struct PublishOptions {
  std::string repo_dir;
  std::string image_dir;
  std::vector<std::string> delta_from;  // old image build outputs
  std::vector<std::string> key_refs;    // what `--key` named, passed on to the payload maker
  // A full payload made beforehand (e.g. by `basalt payload generate`), imported as is
  // instead of asking the maker for one.
  std::optional<std::string> full_payload;
  TimePoint now{};
};

// Stages everything in releases/.staging-<version>-<pid>, then renames it to
// releases/<version>: a release appears whole or not at all, and an existing one is never
// touched (kPolicy). maker may be null when full_payload is given and there are no deltas.
Result<Release> PublishRelease(const PublishOptions& options, std::span<const PrivateKey> keys,
                               PayloadMaker* maker, Logger& log);

}  // namespace basalt::repo
