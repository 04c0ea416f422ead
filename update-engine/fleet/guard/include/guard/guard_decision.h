// The rollout guard's judgement, pure: from the policy, the channel's current document, what the
// fleet reports and when the current step started, decide to pause the channel, widen its
// rollout one step, or leave it, with a stable reason code and a sentence an operator can act on.
// Everything it is given may be wrong (a Prometheus answer above all): any doubt is "none",
// never a widening.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/time_util.h"
#include "guard/fleet_sample.h"
#include "guard/guard_policy.h"
#include "repo/channel.h"

namespace basalt::guard {

enum class GuardAction { kNone, kPause, kWiden };
std::string_view GuardActionName(GuardAction a);  // "none", "pause", "widen"

struct GuardDecision {
  GuardAction action = GuardAction::kNone;
  // pause: "bad-rate" (above max_bad_percent), "worse-than-old" (above max_percent_of_old);
  // widen: "healthy";
  // none: "paused" (already), "invalid-sample", "too-few-hosts", "soaking", "at-last-step",
  // "no-rollout" (every host is already offered the release), "not-a-step-rollout" (a
  // time-based wave without a limit: the guard does not step it).
  std::string code;
  std::string sentence;
  std::optional<uint32_t> widen_to = {};  // widen: the new rollout.limit_percent
  // What was judged (for --json): bad hosts over hosts that tried, per side; -1 when not judged.
  double new_bad_percent = -1;
  double old_bad_percent = -1;
};

// The channel's current step (rollout.limit_percent); nullopt when it has no step rollout.
std::optional<uint32_t> CurrentStep(const repo::Channel& channel);

GuardDecision DecideGuard(const GuardPolicy& policy, const repo::Channel& channel,
                          const FleetSample& sample, TimePoint step_started, TimePoint now);

}  // namespace basalt::guard
