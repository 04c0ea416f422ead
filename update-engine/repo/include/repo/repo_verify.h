// `basalt repo verify`: every signature, hash and cross-reference of a repository directory,
// reporting all problems rather than stopping at the first.
#pragma once

#include <string>
#include <vector>

#include "common/keyring.h"
#include "common/time_util.h"

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

}  // namespace basalt::repo
