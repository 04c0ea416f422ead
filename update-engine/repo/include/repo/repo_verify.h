// `basalt repo verify`: every signature, hash and cross-reference of a repository directory,
// reporting all problems rather than stopping at the first.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/keyring.h"
#include "common/time_util.h"
#include "repo/root.h"

namespace basalt::repo {

// Channels expiring sooner than this are warned about: a week leaves time to renew by hand.
inline constexpr std::chrono::seconds kDefaultExpiryWarning = std::chrono::days(7);

struct VerifyReport {
  std::vector<std::string> problems;  // each names the file and what is wrong
  // Not wrong yet, but soon: channels expiring within the warning window. They do not make the
  // report fail (`repo verify --strict` does).
  std::vector<std::string> warnings;
  size_t releases = 0;
  size_t channels = 0;
  size_t payloads = 0;
  bool ok() const { return problems.empty(); }
};

VerifyReport VerifyRepository(const std::string& repo_dir, const Keyring& keys, size_t threshold,
                              TimePoint now,
                              std::chrono::seconds warn_expiry = kDefaultExpiryWarning);

// As a host that ships `first` would see the repository: the chain roots/<N>.json from `first`
// must verify to the newest (which root.json must equal, and which must not be expired at `now`),
// channels must be signed by its channel role, releases by its release role, and every document
// must name its repository.
// `threshold` (THRESHOLD= of the hosts) raises every role's threshold, as on hosts.
VerifyReport VerifyRepository(const std::string& repo_dir, const SignedRoot& first,
                              size_t threshold, TimePoint now,
                              std::chrono::seconds warn_expiry = kDefaultExpiryWarning);

}  // namespace basalt::repo
