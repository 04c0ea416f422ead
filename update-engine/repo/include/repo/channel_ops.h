// Operator changes to a channel: each writes a new signed channel document with a bumped
// metadata version and a fresh expiry, atomically, so hosts see the old document or the new.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/signing.h"
#include "common/time_util.h"
#include "repo/channel.h"

namespace basalt::repo {

// Every operation changes only what it names and keeps every other field (the rollout above
// all: no operation but `rollout` and `rollback` moves a host into the wave).
enum class ChannelOpKind { kSet, kPin, kRollback, kRollout, kPause, kResume, kFloor, kRenew };

struct ChannelOp {
  ChannelOpKind kind = ChannelOpKind::kSet;
  std::string release;             // set, pin, rollback, floor (empty for floor: clear it)
  std::optional<Rollout> rollout;  // rollout; optional with set (staged from the start)
  bool force = false;              // set: move a pinned channel
  // rollout: change only the wave's limit (keeps start and duration; a channel without a
  // rollout gets one that starts now with duration 0, a pure step).
  std::optional<uint32_t> limit_percent = {};
};

// Pure: the channel document an operation produces from the current one (nullopt when the
// channel does not exist yet; only set and pin create one). release_exists says whether a
// version has been published. Policy violations are kPolicy errors that say what to do.
Result<Channel> ApplyChannelOp(const std::optional<Channel>& current, const std::string& name,
                               const ChannelOp& op,
                               const std::function<bool(const std::string&)>& release_exists,
                               TimePoint now, std::chrono::seconds expires_in);

// Reads the current channel document of a repository directory (its envelope is parsed, not
// verified: the operator owns the directory), or nullopt when there is none.
Result<std::optional<Channel>> LoadChannelFile(const std::string& repo_dir,
                                               const std::string& name);

// Applies op to the repository's channel and writes the signed result atomically, keeping a copy
// in channels/history/<name>/<metadata_version>.json (`channel history`; hosts never read it).
Result<Channel> ChangeChannel(const std::string& repo_dir, const std::string& name,
                              const ChannelOp& op, std::span<const PrivateKey> keys, TimePoint now,
                              std::chrono::seconds expires_in);

// Every channels/<name>.json of a repository directory (parsed, not verified), by name.
Result<std::vector<Channel>> ListChannels(const std::string& repo_dir);

// The documents kept in channels/history/<name>/, oldest first (empty when there are none).
Result<std::vector<Channel>> LoadChannelHistory(const std::string& repo_dir,
                                                const std::string& name);

}  // namespace basalt::repo
