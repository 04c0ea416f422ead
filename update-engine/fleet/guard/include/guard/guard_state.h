// When the channel's current rollout step began, which the signed channel document does not
// record: the guard keeps it in a small file of its own (default: next to the repository
// directory, "<repo>.guard-<channel>.json", so it is never published with the repository).
// The record names the release and step it is for; when the channel no longer matches (an
// operator moved it, or this is the first run), the step is taken to start now, so a change
// made behind the guard's back always soaks in full before the guard widens it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/time_util.h"
#include "repo/channel.h"

namespace basalt::guard {

struct GuardState {
  std::string channel;
  std::string release;
  std::optional<uint32_t> limit_percent = {};
  TimePoint step_started{};
  bool operator==(const GuardState&) const = default;
};

std::string DefaultGuardStatePath(std::string_view repo_dir, std::string_view channel);

Result<GuardState> ParseGuardState(std::string_view text);
std::string SerializeGuardState(const GuardState& s);

// Pure: the record for the channel as it is now: `saved` when it is about the same channel,
// release and step, else a new one starting at `now`.
GuardState CurrentStepRecord(const std::optional<GuardState>& saved, const repo::Channel& channel,
                             TimePoint now);

// nullopt when the file does not exist.
Result<std::optional<GuardState>> LoadGuardState(const std::string& path);
Status SaveGuardState(const std::string& path, const GuardState& s);

}  // namespace basalt::guard
