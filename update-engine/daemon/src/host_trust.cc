#include "daemon/host_trust.h"

#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "repo/root_files.h"

namespace basalt::update {
namespace {

// Whether the root file is there. Only "no such file" means keys-only trust; any other failure
// (permissions, I/O) is an error, not a silent change of trust mode.
Result<bool> RootFileExists(const std::string& path) {
  if (path.empty()) return false;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return FailErrno("stat " + path);
}

}  // namespace

Result<HostTrust> HostTrust::Load(const HostTrustOptions& o) {
  HostTrust t;
  t.min_threshold_ = std::max<size_t>(o.min_threshold, 1);
  BASALT_ASSIGN_OR_RETURN(bool have_root, RootFileExists(o.root_file));
  if (!have_root) {
    BASALT_ASSIGN_OR_RETURN(Keyring keys, Keyring::Load(o.keys_dir));
    return FromKeyring(std::move(keys), t.min_threshold_);
  }
  BASALT_ASSIGN_OR_RETURN(std::string shipped_text, ReadFileToString(o.root_file));
  BASALT_ASSIGN_OR_RETURN(repo::SignedRoot chosen,
                          repo::OpenTrustedRoot(shipped_text, o.root_file));
  if (!o.state_dir.empty()) t.state_dir_ = o.state_dir;
  // The roots this host followed are kept one file per version, and re-verified here from the
  // shipped root step by step, exactly as they were accepted: a file in the state directory can
  // never add keys the chain from /usr does not vouch for. A step that does not verify (damaged,
  // or of another repository after an OS update moved the host) ends the walk with a warning;
  // the next check fetches the rest from the repository again.
  if (!t.state_dir_.empty()) {
    repo::DirectoryRoots kept(t.state_dir_ + "/roots");
    auto walk = repo::FollowStoredRoots(chosen, kept, t.min_threshold_);
    if (!walk) {
      t.load_warning_ = fmt::format("kept roots: {}; starting from version {}",
                                    walk.error().message(), chosen.root.version);
    } else {
      if (walk->refusal) {
        t.load_warning_ =
            fmt::format("ignoring the kept roots from version {} on ({}): {}",
                        walk->root.root.version + 1, walk->refusal->code, walk->refusal->reason);
      }
      chosen = std::move(walk->root);
    }
  }
  t.Adopt(std::move(chosen));
  return t;
}

HostTrust HostTrust::FromKeyring(Keyring keys, size_t threshold) {
  HostTrust t;
  t.min_threshold_ = std::max<size_t>(threshold, 1);
  t.keys_ = std::move(keys);
  t.payload_keys_ = t.keys_;
  t.payload_threshold_ = t.min_threshold_;
  return t;
}

repo::Trust HostTrust::trust() const {
  if (!root_) return repo::Trust::FromKeyring(keys_, min_threshold_);
  return repo::Trust::FromRoot(root_->root, min_threshold_);
}

void HostTrust::Adopt(repo::SignedRoot root) {
  payload_keys_ = root.root.KeyringFor(repo::Role::kRelease);
  payload_threshold_ = std::max(root.root.release.threshold, min_threshold_);
  root_ = std::move(root);
}

Status HostTrust::Keep(const repo::SignedRoot& root) const {
  if (state_dir_.empty()) return {};
  // One file per version, each written atomically: a crash keeps every step before it, and
  // Load re-verifies the chain. root.json is the newest, for people and tools.
  const std::string dir = state_dir_ + "/roots";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Failf(ErrorKind::kIo, "create {}: {}", dir, ec.message());
  BASALT_RETURN_IF_ERROR(
      WriteFileAtomic(fmt::format("{}/{}.json", dir, root.root.version), root.envelope, 0644));
  return WriteFileAtomic(state_dir_ + "/root.json", root.envelope, 0644);
}

Status HostTrust::Refresh(repo::RootFetcher& fetcher, TimePoint now) {
  if (!root_) return {};
  // A copy: keep() replaces root_ while the walk runs.
  const repo::SignedRoot start = *root_;
  BASALT_ASSIGN_OR_RETURN(repo::RootUpdate update,
                          repo::UpdateRoot(
                              start, fetcher, now,
                              [this](const repo::SignedRoot& next) -> Status {
                                BASALT_RETURN_IF_ERROR(Keep(next));
                                Adopt(next);
                                return {};
                              },
                              min_threshold_));
  if (update.refusal) {
    return Failf(update.refusal->kind, "repository root refused ({}): {}", update.refusal->code,
                 update.refusal->reason);
  }
  return {};
}

}  // namespace basalt::update
