// `basalt repo verify`: every signature, hash and cross-reference of a repository directory,
// reporting all problems rather than stopping at the first.
#pragma once

#include <string>
#include <vector>

#include "common/keyring.h"
#include "common/time_util.h"
#include "repo/root.h"

namespace basalt::repo {

struct VerifyReport {
  std::vector<std::string> problems;  // each names the file and what is wrong
  size_t releases = 0;
  size_t channels = 0;
  size_t payloads = 0;
  bool ok() const { return problems.empty(); }
};

VerifyReport VerifyRepository(const std::string& repo_dir, const Keyring& keys, size_t threshold,
                              TimePoint now);

// As a host that ships `first` would see the repository: the chain roots/<N>.json from `first`
// must verify to the newest (which root.json must equal, and which must not be expired at `now`),
// channels must be signed by its channel role, releases by its release role, and every document
// must name its repository.
// `threshold` (THRESHOLD= of the hosts) raises every role's threshold, as on hosts.
VerifyReport VerifyRepository(const std::string& repo_dir, const SignedRoot& first,
                              size_t threshold, TimePoint now);

}  // namespace basalt::repo
