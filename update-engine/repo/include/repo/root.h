// The repository's root document (roots/<N>.json, DSSE-signed), TUF-style: which keys may sign
// for which role, and how many of them must. Hosts ship a first root in /usr and follow the chain
// of newer roots the repository publishes; each step must be signed by a threshold of the previous
// root's root keys *and* of its own, so a leaked release or channel key is revoked by publishing
// the next root, without an OS update (docs/repository.md, "Roles, rotation and revocation").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/keyring.h"
#include "common/signing.h"
#include "common/time_util.h"

namespace basalt::repo {

inline constexpr std::string_view kRootPayloadType = "application/vnd.basalt.root+json";
// The root format minor this build reads and writes.
inline constexpr uint32_t kRootFormatMinor = 0;

enum class Role { kRoot, kRelease, kChannel };
std::string_view RoleName(Role role);  // "root", "release", "channel"
Result<Role> ParseRole(std::string_view name);

struct RoleKeys {
  std::vector<std::string> key_ids;  // sorted, distinct, each in Root::keys
  size_t threshold = 1;              // 1 <= threshold <= key_ids.size()
  bool operator==(const RoleKeys&) const = default;
};

struct Root {
  std::string repository;  // the repository's identity; channels and releases repeat it
  uint64_t version = 1;    // 1, 2, 3, ...: each root names its successor's predecessor
  TimePoint expires{};
  std::map<std::string, PublicKey> keys;  // key id -> key
  RoleKeys root, release, channel;

  const RoleKeys& role(Role r) const;
  RoleKeys& role(Role r);
  // The keys of one role, for Keyring::VerifyThreshold / OpenVerified.
  Keyring KeyringFor(Role r) const;
};

// Strict: unknown, missing or mistyped fields are errors naming the field; a key listed under its
// id must have that id; every role names known keys, without repeats, with a threshold it can
// meet. Does not verify signatures.
Result<Root> ParseRoot(std::string_view body);
std::string SerializeRoot(const Root& root);

// A root whose signatures were checked, with the envelope it came in (kept verbatim by hosts).
struct SignedRoot {
  Root root;
  std::string envelope;
};

// The first root a host trusts (shipped in /usr) or one it stored: parsed and signed by a
// threshold of its own root keys. `what` names the file in errors.
Result<SignedRoot> OpenTrustedRoot(std::string_view envelope, std::string_view what);

// How a root update was refused, with a stable code for status and tests:
// "bad-root-signature", "bad-root", "root-version", "wrong-repository", "expired-root",
// "unsupported-format", "root-chain-too-long".
struct RootRefusal {
  std::string code;
  std::string reason;
  ErrorKind kind = ErrorKind::kIntegrity;
};

// One rotation step: `envelope` (served as roots/<trusted.version + 1>.json) must be signed by a
// threshold of trusted's root keys and a threshold of its own, name the same repository and be
// exactly version trusted.version + 1. Expiry is not checked here: an intermediate root may have
// expired long ago (only the newest one must be current; see UpdateRoot).
// min_threshold (THRESHOLD= on hosts) raises both root thresholds, as it does every role's.
std::optional<RootRefusal> CheckRootSuccessor(const Root& trusted, std::string_view envelope,
                                              SignedRoot* next, size_t min_threshold = 1);

// Where newer roots come from: the text of roots/<version>.json, or nullopt when the repository
// has no such file (the chain ends there). Other fetch errors pass through and are retryable.
class RootFetcher {
 public:
  virtual ~RootFetcher() = default;
  virtual Result<std::optional<std::string>> FetchRoot(uint64_t version) = 0;
};

// At most this many rotations are followed in one update (an endless chain is an attack).
inline constexpr uint64_t kMaxRootSteps = 1024;

struct RootUpdate {
  SignedRoot root;                     // the newest trusted root
  std::vector<SignedRoot> accepted;    // the new roots, in order (empty: no rotation)
  std::optional<RootRefusal> refusal;  // why the chain stopped early or the newest is unusable
};

// TUF's root update: from `trusted`, fetch version + 1, + 2, ... until the repository has none,
// checking each step (CheckRootSuccessor). Every accepted step is handed to `keep` before the
// next fetch, so a host persists its progress; a refused step ends the walk with `refusal` set and
// `root` at the last good one. Finally the newest root must not have expired at `now`
// ("expired-root": a repository frozen by an attacker, or one its operators neglect).
Result<RootUpdate> UpdateRoot(const SignedRoot& trusted, RootFetcher& fetcher, TimePoint now,
                              const std::function<Status(const SignedRoot&)>& keep,
                              size_t min_threshold = 1);

// UpdateRoot over stored roots (a host's kept chain, a repository directory): no expiry check,
// nothing kept.
inline Result<RootUpdate> FollowStoredRoots(const SignedRoot& trusted, RootFetcher& fetcher,
                                            size_t min_threshold = 1) {
  return UpdateRoot(
      trusted, fetcher, TimePoint::min(), [](const SignedRoot&) -> Status { return {}; },
      min_threshold);
}

}  // namespace basalt::repo
