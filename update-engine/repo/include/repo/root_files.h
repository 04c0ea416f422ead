// The root documents of a repository directory, as operators write them: roots/<N>.json holds
// every version (hosts walk them in order, so none is ever removed or rewritten) and root.json a
// copy of the newest, for tools and people.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "common/error.h"
#include "common/signing.h"
#include "repo/root.h"

namespace basalt::repo {

// roots/<N>.json files of a directory (a repository's roots/, or a host's state), as a
// RootFetcher: a missing file ends the chain.
class DirectoryRoots : public RootFetcher {
 public:
  explicit DirectoryRoots(std::string dir) : dir_(std::move(dir)) {}
  Result<std::optional<std::string>> FetchRoot(uint64_t version) override;

 private:
  std::string dir_;
};

// The newest root: roots/1.json (signed by its own root keys) followed through roots/<N>.json as
// hosts follow it; nullopt when the repository has none (keys-only trust). A step that does not
// verify is an error naming where hosts stop. root.json, only a copy, is rewritten if it differs
// (a crash between PublishRoot's two writes leaves it one version behind).
Result<std::optional<SignedRoot>> LoadRepositoryRoot(const std::string& repo_dir);

// Signs `root` with `keys` and checks the result as a host would before anything is written:
// version 1 must meet its own root threshold; a later version must follow `previous`
// (CheckRootSuccessor: a threshold of the old root keys and of the new), and it must not have
// expired. Then writes roots/<version>.json (never over an existing one, even when two publishes
// race: link(2), not rename) and root.json, each atomically.
Result<SignedRoot> PublishRoot(const std::string& repo_dir,
                               const std::optional<SignedRoot>& previous, const Root& root,
                               std::span<const PrivateKey> keys);

// What a document signed by `keys` for `role` of the repository's root would lack: an error when
// the signatures would not meet the role's threshold (so an operator learns it before the hosts
// refuse), success when they do or when there is no root.
Status CheckSignersForRole(const std::optional<SignedRoot>& root, Role role,
                           std::span<const PrivateKey> keys);

}  // namespace basalt::repo
