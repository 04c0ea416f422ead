#include "repo/channel_ops.h"

#include <algorithm>
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

  // Every case changes only the fields its operation names; the rest of `next` is the current
  // document. Above all the rollout: only `rollout` (a wider wave or limit), `rollback` and `set`
  // of a new release without a wave (documented as "ship to everyone") may let a host in early.
  switch (op.kind) {
    case ChannelOpKind::kSet: {
      if (op.release.empty()) return Fail(ErrorKind::kInvalidInput, "set needs --release");
      const bool same = current && op.release == current->release;
      if (current && current->pinned && !op.force && !same) {
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
      if (op.force) next.pinned = false;
      if (same) {
        // A renewal by set (docs used to recommend it): the wave, a rollback's allow_downgrade
        // and the pin stay, so no host moves. An explicit --start/--duration replaces the wave.
        if (op.rollout) next.rollout = op.rollout;
      } else {
        next.release = op.release;
        next.allow_downgrade = false;  // forward only, so nothing to allow
        next.rollout = op.rollout;     // none: ship to everyone, as documented
      }
      trim_floor();
      break;
    }
    case ChannelOpKind::kPin:
      if (op.release.empty()) return Fail(ErrorKind::kInvalidInput, "pin needs --release");
      // Pinning below the current release is a rollback too: hosts must be let down.
      next.allow_downgrade =
          older_than_current(op.release) ||
          (current && current->allow_downgrade && op.release == current->release);
      if (current && op.release != current->release && next.rollout) {
        // A host's wave position is a hash of its machine id *and the target version*, so the
        // same wave over another release would put other hosts inside it. Restart the wave
        // (same duration and limit) now: every host outside it stays outside.
        next.rollout->start = std::max(next.rollout->start, now);
      }
      next.release = op.release;
      next.pinned = true;
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
      next.rollout.reset();  // a rollback reaches every host at once (documented widening)
      // `paused` stays: the operator who paused decides when hosts act again (`resume`).
      trim_floor();
      break;
    case ChannelOpKind::kRollout:
      if (!op.rollout && !op.limit_percent) {
        return Fail(ErrorKind::kInvalidInput, "rollout needs --start and --duration, or --limit");
      }
      if (op.limit_percent && *op.limit_percent > 100) {
        return Failf(ErrorKind::kInvalidInput, "--limit {} is not a percentage (0..100)",
                     *op.limit_percent);
      }
      if (op.rollout) {
        // A new wave keeps an existing step limit unless the op names one: redefining the
        // wave's timing must not silently lift a cap `rollout guard` or an operator set.
        std::optional<uint32_t> limit =
            op.rollout->limit_percent ? op.rollout->limit_percent
                                      : (next.rollout ? next.rollout->limit_percent : std::nullopt);
        next.rollout = op.rollout;
        next.rollout->limit_percent = limit;
      } else if (!next.rollout) {
        // A pure step: the wave is at the limit as soon as it starts.
        next.rollout = Rollout{.start = now, .duration = std::chrono::seconds(0)};
      }
      if (op.limit_percent) next.rollout->limit_percent = op.limit_percent;
      break;
    case ChannelOpKind::kPause:
      next.paused = true;
      if (!next.paused_at || !current->paused) next.paused_at = now;
      break;
    case ChannelOpKind::kResume:
      if (!current->paused) {
        return Failf(ErrorKind::kPolicy, "channel {} is not paused", name);
      }
      if (next.paused_at && next.rollout) {
        // Freeze the wave over the pause: move its start by the part of the pause that came
        // after the start, so each host's place relative to the wave is where it was at pause.
        TimePoint from = std::max(next.rollout->start, *next.paused_at);
        if (now > from) next.rollout->start += now - from;
      }
      next.paused = false;
      next.paused_at.reset();
      break;
    case ChannelOpKind::kRenew:
      // Only metadata_version and expires (set above) change.
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

namespace {

// A mistyped --repo must not read as "no channels".
Status CheckRepositoryDir(const std::string& repo_dir) {
  std::error_code ec;
  if (!fs::is_directory(repo_dir, ec)) {
    return Failf(ErrorKind::kNotFound, "repository {} does not exist (or is not a directory)",
                 repo_dir);
  }
  return {};
}

// Parses a channel envelope file without verifying it (the operator's own directory).
Result<Channel> ReadChannelDocument(const fs::path& path) {
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path.string()));
  auto ch = [&]() -> Result<Channel> {
    BASALT_ASSIGN_OR_RETURN(Envelope env, ParseEnvelope(text));
    if (env.payload_type != kChannelPayloadType) {
      return Failf(ErrorKind::kInvalidInput, "payloadType is {}", env.payload_type);
    }
    return ParseChannel(env.payload);
  }();
  if (!ch) return std::unexpected(std::move(ch).error().WithContext(path.string()));
  return ch;
}

}  // namespace

Result<std::optional<Channel>> LoadChannelFile(const std::string& repo_dir,
                                               const std::string& name) {
  BASALT_RETURN_IF_ERROR(CheckChannelName(name, "--channel"));
  fs::path path = fs::path(repo_dir) / "channels" / (name + ".json");
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<Channel>();
  BASALT_ASSIGN_OR_RETURN(Channel ch, ReadChannelDocument(path));
  if (ch.name != name) {
    return Failf(ErrorKind::kInvalidInput, "{}: document names channel {}", path.string(), ch.name);
  }
  return std::optional<Channel>(std::move(ch));
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
  // The history copy goes first: if the live write then fails, the next change reuses this
  // metadata version and overwrites the copy, so history never lacks a version hosts saw.
  fs::path history = dir / "history" / name;
  std::error_code ec;
  fs::create_directories(history, ec);
  if (ec) return Failf(ErrorKind::kIo, "create {}: {}", history.string(), ec.message());
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(
      (history / fmt::format("{}.json", next.metadata_version)).string(), envelope));
  BASALT_RETURN_IF_ERROR(WriteFileAtomic((dir / (name + ".json")).string(), envelope));
  return next;
}

Result<std::vector<Channel>> ListChannels(const std::string& repo_dir) {
  BASALT_RETURN_IF_ERROR(CheckRepositoryDir(repo_dir));
  fs::path dir = fs::path(repo_dir) / "channels";
  std::vector<Channel> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    if (!CheckChannelName(entry.path().stem().string(), "channel file")) continue;
    BASALT_ASSIGN_OR_RETURN(Channel ch, ReadChannelDocument(entry.path()));
    out.push_back(std::move(ch));
  }
  if (ec) return Failf(ErrorKind::kIo, "list {}: {}", dir.string(), ec.message());
  std::ranges::sort(out, {}, &Channel::name);
  return out;
}

Result<std::vector<Channel>> LoadChannelHistory(const std::string& repo_dir,
                                                const std::string& name) {
  BASALT_RETURN_IF_ERROR(CheckChannelName(name, "--channel"));
  BASALT_RETURN_IF_ERROR(CheckRepositoryDir(repo_dir));
  fs::path dir = fs::path(repo_dir) / "channels" / "history" / name;
  std::vector<Channel> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (!fs::exists(fs::path(repo_dir) / "channels" / (name + ".json"), ec)) {
      return Failf(ErrorKind::kNotFound, "channel {} does not exist in {}", name, repo_dir);
    }
    return out;
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    BASALT_ASSIGN_OR_RETURN(Channel ch, ReadChannelDocument(entry.path()));
    if (ch.name != name || fmt::format("{}", ch.metadata_version) != entry.path().stem()) {
      return Failf(ErrorKind::kInvalidInput, "{}: document is channel {} version {}",
                   entry.path().string(), ch.name, ch.metadata_version);
    }
    out.push_back(std::move(ch));
  }
  if (ec) return Failf(ErrorKind::kIo, "list {}: {}", dir.string(), ec.message());
  std::ranges::sort(out, {}, &Channel::metadata_version);
  return out;
}

}  // namespace basalt::repo
