// The host-side update decision: from the trusted keys, the host's state and the repository's
// signed metadata, decide to update (to which version, with which payload), to wait (and why),
// or to refuse (and why). Shared by `basalt channel show` and basalt-updated, so an operator
// sees exactly what a host would do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/keyring.h"
#include "common/time_util.h"
#include "repo/channel.h"
#include "repo/release.h"
#include "repo/trust.h"

namespace basalt::repo {

// Where signed metadata comes from (a repository over the Fetcher, or a test's map). Fetch
// failures are returned as errors, which Decide passes through: they are retryable, unlike
// a refusal.
class MetadataSource {
 public:
  virtual ~MetadataSource() = default;
  virtual Result<std::string> FetchChannel(std::string_view name) = 0;
  virtual Result<std::string> FetchRelease(std::string_view version) = 0;
};

struct HostState {
  std::string current_version;
  std::string current_root_hash;  // hex; empty if unknown, which rules out every delta
  std::string machine_id;
  // The channel metadata version last accepted *for this channel*, and the SHA-256 (hex) of that
  // document: a lower version is a replay, the same version with other content an equivocation.
  std::optional<uint64_t> last_metadata_version;
  std::string last_metadata_sha256;
  // The ids of the keys that signed that document, comma-separated ("" for records made before
  // they were kept). The record binds while every one of them is still a channel key; once a
  // root revokes one it no longer does: TUF's recovery from a fast-forward attack (a leaked key
  // that signed a huge metadata version), without giving up replay protection when keys are
  // only added.
  std::string last_metadata_keys;
  std::optional<std::string> pin;  // the host's PIN=, if any
  TimePoint now{};
};

enum class Verdict { kUpdate, kWait, kRefuse };
std::string_view VerdictName(Verdict v);  // "update", "wait", "refuse"

struct Decision {
  Verdict verdict = Verdict::kRefuse;
  // A stable machine-readable reason: update: "newer", "floor", "pin", "rollback";
  // wait: "up-to-date", "pinned", "paused", "outside-wave";
  // refuse: "bad-channel-signature", "bad-channel", "wrong-channel", "expired", "replay",
  // "conflicting-metadata" (the version already accepted, with other content),
  // "downgrade", "bad-release-signature", "bad-release", "mix-and-match", "no-payload",
  // "unsupported-format" (a signed document of a newer major format, repo/document_format.h),
  // "wrong-repository" (a document of another repository than the root names).
  std::string code;
  std::string reason;  // one sentence for humans
  ErrorKind refusal_kind = ErrorKind::kPolicy;

  std::string version;                // update: the target version
  std::optional<PayloadRef> payload;  // update: the chosen payload
  std::optional<Release> release;     // update: the verified target release
  // The verified, unexpired, non-replayed channel. The caller records
  // channel->metadata_version (and channel_sha256) as the new last-seen version of this channel
  // whenever this is set.
  std::optional<Channel> channel;
  std::string channel_sha256;  // hex SHA-256 of the channel document (the signed body)
  std::string channel_keys;    // the signers of the channel (HostState::last_metadata_keys form)
  bool delta_skipped = false;  // a delta from our version exists but not from our root hash
  double wave_position = 0;    // this host's place in the rollout, 0..1
  std::optional<TimePoint> wave_opens;  // when the rollout reaches this host
};

// Position of a host in a release's rollout wave: a stable hash of machine id and version,
// uniform in [0, 1). A host updates once the rollout's elapsed fraction passes it.
double WavePosition(std::string_view machine_id, std::string_view version);

Result<Decision> Decide(const Trust& trust, std::string_view channel_name, MetadataSource& source,
                        const HostState& host);
// Without a root: one keyring signs channels and releases alike.
Result<Decision> Decide(const Keyring& keys, size_t threshold, std::string_view channel_name,
                        MetadataSource& source, const HostState& host);

// Checks a fetched payload against what the verified release says about it.
Status CheckPayloadDigest(const PayloadRef& expected, uint64_t size, std::string_view sha256_hex);

}  // namespace basalt::repo
