#include "repo/channel_ops.h"

#include <filesystem>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "repo/dsse.h"
#include "repo/names.h"
#include "repo/root_files.h"

namespace basalt::repo {
namespace fs = std::filesystem;

Result<Channel> ApplyChannelOp(const std::optional<Channel>& current, const std::string& name,
                               const ChannelOp& op,
                               const std::function<bool(const std::string&)>& release_exists,
                               TimePoint now, std::chrono::seconds expires_in) {
  BASALT_RETURN_IF_ERROR(CheckChannelName(name, "channel"));
  bool creates = op.kind == ChannelOpKind::kSet || op.kind == ChannelOpKind::kPin;
  if (!current && !creates) {
    return Failf(ErrorKind::kNotFound,
                 "channel {} does not exist yet; create it with `basalt channel set`", name);
  }
  if (!op.release.empty()) {
    BASALT_RETURN_IF_ERROR(CheckVersion(op.release, "--release"));
    if (!release_exists(op.release)) {
      return Failf(ErrorKind::kNotFound, "release {} is not published in this repository",
                   op.release);
    }
  }
  Channel next = current.value_or(Channel{});
  next.name = name;
  next.metadata_version = current ? current->metadata_version + 1 : 1;
  next.expires = now + expires_in;
  auto older_than_current = [&](const std::string& v) {
    return current && CompareVersions(v, current->release) < 0;
  };
  // A floor at or above the target is meaningless (hosts go straight to the target), and a
  // stale one would confuse readers.
  auto trim_floor = [&] {
    if (next.floor && CompareVersions(*next.floor, next.release) >= 0) next.floor.reset();
  };

  switch (op.kind) {
    case ChannelOpKind::kSet:
      if (op.release.empty()) return Fail(ErrorKind::kInvalidInput, "set needs --release");
      if (current && current->pinned && !op.force && op.release != current->release) {
        return Failf(ErrorKind::kPolicy,
                     "channel {} is pinned to {}; use `channel pin` to move the pin or "
                     "`channel set --force` to unpin",
                     name, current->release);
      }
      if (older_than_current(op.release)) {
        return Failf(ErrorKind::kPolicy,
                     "{} is older than channel {}'s release {}; use `basalt channel rollback` "
                     "to move a channel back",
                     op.release, name, current->release);
      }
      next.release = op.release;
      next.allow_downgrade = false;
      next.pinned = false;
      next.rollout = op.rollout;
      trim_floor();
      break;
    case ChannelOpKind::kPin:
      if (op.release.empty()) return Fail(ErrorKind::kInvalidInput, "pin needs --release");
      // Pinning below the current release is a rollback too: hosts must be let down.
      next.allow_downgrade =
          older_than_current(op.release) ||
          (current && current->allow_downgrade && op.release == current->release);
      next.release = op.release;
      next.pinned = true;
      next.rollout.reset();
      trim_floor();
      break;
    case ChannelOpKind::kRollback:
      if (op.release.empty()) return Fail(ErrorKind::kInvalidInput, "rollback needs --release");
      if (!older_than_current(op.release)) {
        return Failf(ErrorKind::kPolicy,
                     "rollback target {} is not older than channel {}'s release {}", op.release,
                     name, current->release);
      }
      next.release = op.release;
      next.allow_downgrade = true;
      next.rollout.reset();  // a rollback reaches every host at once
      next.paused = false;
      trim_floor();
      break;
    case ChannelOpKind::kRollout:
      // Minimal form for `rollout guard` until the full limit semantics land: only the limit
      // changes; a channel without a rollout gets a pure step starting now.
      if (!op.rollout && op.limit_percent) {
        if (!next.rollout) next.rollout = Rollout{.start = now, .duration = {}};
        next.rollout->limit_percent = op.limit_percent;
        break;
      }
      if (!op.rollout)
        return Fail(ErrorKind::kInvalidInput, "rollout needs --start and --duration");
      next.rollout = op.rollout;
      break;
    case ChannelOpKind::kPause:
      next.paused = true;
      break;
    case ChannelOpKind::kResume:
      next.paused = false;
      break;
    case ChannelOpKind::kRenew:
      break;
    case ChannelOpKind::kFloor:
      if (op.release.empty()) {
        next.floor.reset();
      } else {
        if (CompareVersions(op.release, next.release) >= 0) {
          return Failf(ErrorKind::kPolicy, "floor {} must be older than channel {}'s release {}",
                       op.release, name, next.release);
        }
        next.floor = op.release;
      }
      break;
  }
  return next;
}

Result<std::optional<Channel>> LoadChannelFile(const std::string& repo_dir,
                                               const std::string& name) {
  BASALT_RETURN_IF_ERROR(CheckChannelName(name, "--channel"));
  fs::path path = fs::path(repo_dir) / "channels" / (name + ".json");
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<Channel>();
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path.string()));
  auto ch = [&]() -> Result<Channel> {
    BASALT_ASSIGN_OR_RETURN(Envelope env, ParseEnvelope(text));
    if (env.payload_type != kChannelPayloadType) {
      return Failf(ErrorKind::kInvalidInput, "payloadType is {}", env.payload_type);
    }
    return ParseChannel(env.payload);
  }();
  if (!ch) return std::unexpected(std::move(ch).error().WithContext(path.string()));
  if (ch->name != name) {
    return Failf(ErrorKind::kInvalidInput, "{}: document names channel {}", path.string(),
                 ch->name);
  }
  return std::optional<Channel>(std::move(*ch));
}

namespace {

// The hex SHA-256 of the signed body of releases/<version>/release.json (its envelope parsed,
// not verified: the operator owns the directory, and hosts verify the signatures).
Result<std::string> ReleaseDocumentSha256(const std::string& repo_dir, const std::string& version) {
  const fs::path path = fs::path(repo_dir) / "releases" / version / "release.json";
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path.string()));
  auto env = ParseEnvelope(text);
  if (!env) return std::unexpected(std::move(env).error().WithContext(path.string()));
  if (env->payload_type != kReleasePayloadType) {
    return Failf(ErrorKind::kInvalidInput, "{}: payloadType is {}", path.string(),
                 env->payload_type);
  }
  return ToHex(Sha256(env->payload));
}

}  // namespace

Result<Channel> ChangeChannel(const std::string& repo_dir, const std::string& name,
                              const ChannelOp& op, std::span<const PrivateKey> keys, TimePoint now,
                              std::chrono::seconds expires_in) {
  if (keys.empty()) return Fail(ErrorKind::kInvalidInput, "channel changes need --key");
  BASALT_ASSIGN_OR_RETURN(std::optional<Channel> current, LoadChannelFile(repo_dir, name));
  auto exists = [&](const std::string& v) {
    std::error_code ec;
    return fs::exists(fs::path(repo_dir) / "releases" / v / "release.json", ec);
  };
  BASALT_ASSIGN_OR_RETURN(Channel next, ApplyChannelOp(current, name, op, exists, now, expires_in));
  // Every change binds the channel to the exact release document it names, and to the
  // repository its root names.
  BASALT_ASSIGN_OR_RETURN(next.release_sha256, ReleaseDocumentSha256(repo_dir, next.release));
  BASALT_ASSIGN_OR_RETURN(std::optional<SignedRoot> root, LoadRepositoryRoot(repo_dir));
  BASALT_RETURN_IF_ERROR(CheckSignersForRole(root, Role::kChannel, keys));
  next.repository = root ? std::make_optional(root->root.repository) : std::nullopt;
  std::string body = SerializeChannel(next);
  BASALT_ASSIGN_OR_RETURN(Channel check, ParseChannel(body));
  if (!(check == next)) return Fail(ErrorKind::kInternal, "channel document does not round-trip");
  BASALT_ASSIGN_OR_RETURN(std::string envelope, SignEnvelope(kChannelPayloadType, body, keys));
  fs::path dir = fs::path(repo_dir) / "channels";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Failf(ErrorKind::kIo, "create {}: {}", dir.string(), ec.message());
  BASALT_RETURN_IF_ERROR(WriteFileAtomic((dir / (name + ".json")).string(), envelope));
  return next;
}

}  // namespace basalt::repo
