#include "repo/root_files.h"

#include <filesystem>
#include <set>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "repo/dsse.h"

namespace basalt::repo {
namespace fs = std::filesystem;

Result<std::optional<std::string>> DirectoryRoots::FetchRoot(uint64_t version) {
  const fs::path p = fs::path(dir_) / fmt::format("{}.json", version);
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::optional<std::string>();
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(p.string()));
  return std::optional<std::string>(std::move(text));
}

Result<std::optional<SignedRoot>> LoadRepositoryRoot(const std::string& repo_dir) {
  const fs::path path = fs::path(repo_dir) / "root.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<SignedRoot>();
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path.string()));
  BASALT_ASSIGN_OR_RETURN(SignedRoot root, OpenTrustedRoot(text, path.string()));
  return std::optional<SignedRoot>(std::move(root));
}

Result<SignedRoot> PublishRoot(const std::string& repo_dir,
                               const std::optional<SignedRoot>& previous, const Root& root,
                               std::span<const PrivateKey> keys) {
  if (keys.empty())
    return Fail(ErrorKind::kInvalidInput, "a root needs at least one --sign-with key");
  const uint64_t want = previous ? previous->root.version + 1 : 1;
  if (root.version != want) {
    return Failf(ErrorKind::kInternal, "root version {} after {}", root.version, want - 1);
  }
  BASALT_ASSIGN_OR_RETURN(std::string envelope,
                          SignEnvelope(kRootPayloadType, SerializeRoot(root), keys));
  SignedRoot signed_root;
  if (previous) {
    if (auto refusal = CheckRootSuccessor(previous->root, envelope, &signed_root)) {
      return Failf(ErrorKind::kPolicy, "hosts would refuse this root ({}): {}", refusal->code,
                   refusal->reason);
    }
  } else {
    auto opened = OpenTrustedRoot(envelope, "version 1");
    if (!opened) {
      return Failf(ErrorKind::kPolicy, "hosts would refuse this root: {}",
                   opened.error().message());
    }
    signed_root = std::move(*opened);
  }
  const fs::path dir = fs::path(repo_dir) / "roots";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Failf(ErrorKind::kIo, "create {}: {}", dir.string(), ec.message());
  const fs::path versioned = dir / fmt::format("{}.json", root.version);
  // Hosts may already have accepted whatever is at roots/<N>.json: replacing it would fork them.
  if (fs::exists(versioned, ec)) {
    return Failf(ErrorKind::kPolicy,
                 "{} already exists; a published root is never rewritten (publish version {})",
                 versioned.string(), root.version + 1);
  }
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(versioned.string(), envelope));
  BASALT_RETURN_IF_ERROR(WriteFileAtomic((fs::path(repo_dir) / "root.json").string(), envelope));
  return signed_root;
}

Status CheckSignersForRole(const std::optional<SignedRoot>& root, Role role,
                           std::span<const PrivateKey> keys) {
  if (!root) return {};
  const RoleKeys& want = root->root.role(role);
  std::set<std::string> ids(want.key_ids.begin(), want.key_ids.end());
  size_t have = 0;
  for (const PrivateKey& k : keys)
    have += ids.contains(k.id()) ? 1 : 0;
  if (have >= want.threshold) return {};
  return Failf(ErrorKind::kPolicy,
               "the signing keys hold {} of the {} {} key(s) root version {} of repository \"{}\" "
               "requires; hosts would refuse the document (basalt keys show-root --repo)",
               have, want.threshold, RoleName(role), root->root.version, root->root.repository);
}

}  // namespace basalt::repo
