// What this host trusts, kept current. Two modes:
// - keys only (no root file shipped): every key in the trusted key directory may sign channels,
//   releases and payloads, THRESHOLD= of them are needed;
// - a root (the repository's root document shipped in /usr, docs/repository.md "Roles, rotation
//   and revocation"): channels need the channel role's keys, releases and payloads the release
//   role's, each with its threshold (THRESHOLD= may only raise it). Refresh follows the
//   repository's newer roots and keeps the newest in the state directory, so a rotation or
//   revocation published there reaches the host without an OS update.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/keyring.h"
#include "common/time_util.h"
#include "repo/root.h"
#include "repo/trust.h"

namespace basalt::update {

struct HostTrustOptions {
  std::string keys_dir = "/usr/share/basalt/keys";
  // The first root, inside the verified /usr. Absent: keys-only mode.
  std::string root_file = "/usr/share/basalt/root.json";
  // Where accepted roots are kept (<state_dir>/roots/<N>.json, and the newest as root.json);
  // empty: nowhere (tests).
  std::string state_dir;
  size_t min_threshold = 1;  // THRESHOLD=
};

class HostTrust {
 public:
  // Starts from the shipped root and follows the roots kept in <state_dir>/roots/<N>.json, each
  // re-verified as a rotation step (a file there cannot add keys the chain from /usr does not
  // vouch for). A kept step that does not verify (damaged, or of another repository after an OS
  // update moved the host) ends the walk with a warning (load_warning()); the next check fetches
  // the rest from the repository. A missing root_file means keys-only trust; any other failure to
  // read it, or a bad shipped root, is an error: that image cannot verify anything.
  static Result<HostTrust> Load(const HostTrustOptions& options);
  static HostTrust FromKeyring(Keyring keys, size_t threshold);

  bool has_root() const { return root_.has_value(); }
  // Why the kept root was ignored at Load ("" if it was not), for the caller to log.
  const std::string& load_warning() const { return load_warning_; }
  const std::optional<repo::SignedRoot>& root() const { return root_; }
  repo::Trust trust() const;

  // The keys and threshold payload manifests must be signed with (the release role's with a root).
  // The reference stays valid across Refresh, which updates what it holds.
  const Keyring& payload_keys() const { return payload_keys_; }
  size_t payload_threshold() const { return payload_threshold_; }

  // With a root: follows roots/<N+1>.json ... (repo::UpdateRoot), saving each accepted root
  // before fetching the next. A refused step or an expired newest root is an error naming its
  // code ("repository root refused (expired-root): ..."); the roots accepted before it stay.
  // Without a root: nothing to do.
  Status Refresh(repo::RootFetcher& fetcher, TimePoint now);

 private:
  void Adopt(repo::SignedRoot root);
  Status Keep(const repo::SignedRoot& root) const;

  std::optional<repo::SignedRoot> root_;
  std::string state_dir_;
  std::string load_warning_;
  size_t min_threshold_ = 1;
  Keyring keys_;  // keys-only mode
  Keyring payload_keys_;
  size_t payload_threshold_ = 1;
};

}  // namespace basalt::update
