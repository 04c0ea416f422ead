// The channel document (payload of channels/<name>.json): which release a channel's hosts
// should run, and the operator's rules around it (floor, staged rollout, pause, rollback).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/time_util.h"

namespace basalt::repo {

struct Rollout {
  TimePoint start{};
  std::chrono::seconds duration{0};
  // Minor 3: the wave never passes this percentage of hosts (0..100), however much time has
  // elapsed: a step rollout (`channel rollout --limit 10`, widened by `rollout guard`). Absent:
  // the wave grows with time up to every host.
  std::optional<uint32_t> limit_percent = {};
  bool operator==(const Rollout&) const = default;
};

struct Channel {
  std::string name;
  uint64_t metadata_version = 0;  // strictly increasing with every signed change
  TimePoint expires{};
  std::string release;
  // Minor 1: hex SHA-256 of `release`'s signed release document (the body of its
  // release.json). Binds the channel to that exact document: a same-key release from another
  // repository, or a replaced one, is refused. Absent: bound by version only (minor 0).
  std::optional<std::string> release_sha256;
  // Minor 2: the identity of the repository (its root document's `repository`). A host that
  // follows a root refuses a channel of another repository, or one without it.
  std::optional<std::string> repository;
  std::optional<std::string> floor;  // hosts older than this go to it first
  std::optional<Rollout> rollout;
  bool allow_downgrade = false;  // set by an operator rollback
  bool paused = false;
  // Minor 3: when `channel pause` stopped a rollout. The wave stays where it was at this time
  // until `channel resume` moves the rollout's start by the length of the pause.
  std::optional<TimePoint> paused_at;
  bool pinned = false;  // `channel pin`: `channel set` refuses to move it without --force

  bool operator==(const Channel&) const = default;
};

// The fraction of hosts (0..1) a rollout's wave has reached at `now`: the elapsed share of its
// duration (1 once a zero-length wave starts), capped by its limit. A host at wave position p
// is inside once this exceeds p (or reaches 1).
double WaveReached(const Rollout& rollout, TimePoint now);

// Strict: unknown, missing or mistyped fields are errors naming the field.
Result<Channel> ParseChannel(std::string_view body);
std::string SerializeChannel(const Channel& channel);

}  // namespace basalt::repo
