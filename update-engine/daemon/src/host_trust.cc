#include "daemon/host_trust.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/fd.h"

namespace basalt::update {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

}  // namespace

Result<HostTrust> HostTrust::Load(const HostTrustOptions& o) {
  HostTrust t;
  t.min_threshold_ = std::max<size_t>(o.min_threshold, 1);
  if (!Exists(o.root_file)) {
    BASALT_ASSIGN_OR_RETURN(Keyring keys, Keyring::LoadDirectory(o.keys_dir));
    return FromKeyring(std::move(keys), t.min_threshold_);
  }
  BASALT_ASSIGN_OR_RETURN(std::string shipped_text, ReadFileToString(o.root_file));
  BASALT_ASSIGN_OR_RETURN(repo::SignedRoot shipped,
                          repo::OpenTrustedRoot(shipped_text, o.root_file));
  if (!o.state_dir.empty()) t.state_file_ = o.state_dir + "/root.json";
  repo::SignedRoot chosen = std::move(shipped);
  if (Exists(t.state_file_)) {
    auto kept_text = ReadFileToString(t.state_file_);
    auto kept = kept_text ? repo::OpenTrustedRoot(*kept_text, t.state_file_)
                          : Result<repo::SignedRoot>(std::unexpected(kept_text.error()));
    if (!kept) {
      t.load_warning_ = fmt::format("ignoring the kept root, starting again from {}: {}",
                                    o.root_file, kept.error().message());
    } else if (kept->root.repository != chosen.root.repository) {
      t.load_warning_ = fmt::format(
          "ignoring {}: it is the root of repository \"{}\", but {} (shipped in /usr) is of "
          "\"{}\"",
          t.state_file_, kept->root.repository, o.root_file, chosen.root.repository);
    } else if (kept->root.version > chosen.root.version) {
      chosen = std::move(*kept);
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
  if (state_file_.empty()) return {};
  // A crash after this leaves either the old root or the new one, both trusted.
  return WriteFileAtomic(state_file_, root.envelope, 0644);
}

Status HostTrust::Refresh(repo::RootFetcher& fetcher, TimePoint now) {
  if (!root_) return {};
  BASALT_ASSIGN_OR_RETURN(
      repo::RootUpdate update,
      repo::UpdateRoot(*root_, fetcher, now, [this](const repo::SignedRoot& next) -> Status {
        BASALT_RETURN_IF_ERROR(Keep(next));
        Adopt(next);
        return {};
      }));
  if (update.refusal) {
    return Failf(update.refusal->kind, "repository root refused ({}): {}", update.refusal->code,
                 update.refusal->reason);
  }
  return {};
}

}  // namespace basalt::update
