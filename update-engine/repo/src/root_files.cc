#include "repo/root_files.h"

#include <errno.h>
#include <unistd.h>

#include <cstring>
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

namespace {

// Writes `data` at `path` only if nothing is there: a temp file, fsynced, then link(2), which
// fails with EEXIST instead of replacing (rename would silently replace a root hosts may have
// accepted, if two publishes race), then the directory fsynced.
Status WriteFileExclusive(const fs::path& path, std::string_view data) {
  const std::string tmp = fmt::format("{}.tmp-{}", path.string(), ::getpid());
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(tmp, data));
  const int rc = ::link(tmp.c_str(), path.c_str());
  const int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (err == EEXIST) {
      return Failf(ErrorKind::kPolicy, "{} already exists; a published root is never rewritten",
                   path.string());
    }
    return std::unexpected(
        Error(ErrorKind::kIo, fmt::format("link {}: {}", path.string(), std::strerror(err)), err));
  }
  return FsyncDirectory(path.parent_path().string());
}

}  // namespace

Result<std::optional<SignedRoot>> LoadRepositoryRoot(const std::string& repo_dir) {
  // The chain itself, from roots/1.json, decides which root is the newest (root.json is only a
  // copy, which a crash between the two writes of PublishRoot may leave one version behind).
  const fs::path first = fs::path(repo_dir) / "roots" / "1.json";
  std::error_code ec;
  if (!fs::exists(first, ec)) return std::optional<SignedRoot>();
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(first.string()));
  BASALT_ASSIGN_OR_RETURN(SignedRoot root, OpenTrustedRoot(text, first.string()));
  DirectoryRoots roots((fs::path(repo_dir) / "roots").string());
  BASALT_ASSIGN_OR_RETURN(RootUpdate walk, FollowStoredRoots(root, roots));
  if (walk.refusal) {
    return Failf(ErrorKind::kIntegrity, "{}/roots: hosts stop at version {} ({}): {}", repo_dir,
                 walk.root.root.version, walk.refusal->code, walk.refusal->reason);
  }
  root = std::move(walk.root);
  // Repair the copy. Best effort: on a read-only copy of the repository it stays stale, and the
  // chain has decided anyway.
  const std::string copy_path = (fs::path(repo_dir) / "root.json").string();
  auto copy = ReadFileToString(copy_path);
  if (!copy || *copy != root.envelope) {
    if (auto s = WriteFileAtomic(copy_path, root.envelope); !s) {
      // Nothing reads root.json to decide anything; the next writable run repairs it.
    }
  }
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
  if (root.expires <= Now()) {
    return Failf(ErrorKind::kPolicy,
                 "the new root would expire at {}, which has passed; hosts refuse an expired root "
                 "(give --expires-in)",
                 FormatTime(root.expires));
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
  BASALT_RETURN_IF_ERROR(WriteFileExclusive(versioned, envelope));
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
