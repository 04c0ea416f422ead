#include "guard/guard_decision.h"

#include <cmath>

namespace basalt::guard {
namespace {

// More hosts than any fleet has: a count beyond it is a broken or hostile answer.
constexpr double kMaxHosts = 1e9;

bool ValidCount(double v) {
  return std::isfinite(v) && v >= 0 && v <= kMaxHosts && v == std::floor(v);
}

GuardDecision None(std::string code, std::string sentence) {
  return {.action = GuardAction::kNone, .code = std::move(code), .sentence = std::move(sentence)};
}

}  // namespace

std::string_view GuardActionName(GuardAction a) {
  switch (a) {
    case GuardAction::kPause:
      return "pause";
    case GuardAction::kWiden:
      return "widen";
    case GuardAction::kNone:
      break;
  }
  return "none";
}

std::optional<uint32_t> CurrentStep(const repo::Channel& channel) {
  if (!channel.rollout) return std::nullopt;
  return channel.rollout->limit_percent;
}

GuardDecision DecideGuard(const GuardPolicy& policy, const repo::Channel& channel,
                          const FleetSample& s, TimePoint step_started, TimePoint now) {
  const std::string& rel = channel.release;
  for (double v : {s.new_hosts, s.new_rollbacks, s.new_failing, s.old_hosts, s.old_rollbacks}) {
    if (!ValidCount(v)) {
      return None("invalid-sample",
                  fmt::format("Prometheus gave a host count of {} for channel {}; nothing changed",
                              v, channel.name));
    }
  }
  if (channel.paused) {
    return None("paused", fmt::format("channel {} is paused; the guard neither pauses it again "
                                      "nor widens it (channel resume is an operator's call)",
                                      channel.name));
  }
  double bad = s.new_rollbacks + s.new_failing;
  double tried = s.new_hosts + bad;
  if (tried < static_cast<double>(policy.min_hosts)) {
    return None("too-few-hosts",
                fmt::format("{} host(s) tried release {}, the policy judges from {}; nothing "
                            "changed",
                            tried, rel, policy.min_hosts));
  }
  GuardDecision d;
  d.new_bad_percent = 100.0 * bad / tried;
  if (s.old_hosts > 0) d.old_bad_percent = 100.0 * s.old_rollbacks / s.old_hosts;
  if (d.new_bad_percent > policy.max_bad_percent) {
    d.action = GuardAction::kPause;
    d.code = "bad-rate";
    d.sentence = fmt::format(
        "{} of {} hosts that tried release {} rolled back ({}) or failed to install it ({}): "
        "{:.1f}%, above the policy's {}%",
        bad, tried, rel, s.new_rollbacks, s.new_failing, d.new_bad_percent, policy.max_bad_percent);
    return d;
  }
  // Relative to the other releases only when they have a rate at all: against 0 any single bad
  // host is "infinitely worse", which is the absolute rule's call, not this one's.
  if (policy.max_percent_of_old && d.old_bad_percent > 0 &&
      d.new_bad_percent > d.old_bad_percent * *policy.max_percent_of_old / 100.0) {
    d.action = GuardAction::kPause;
    d.code = "worse-than-old";
    d.sentence = fmt::format(
        "release {} goes bad on {:.1f}% of hosts, the other releases on {:.1f}%: above the "
        "policy's {}% of theirs",
        rel, d.new_bad_percent, d.old_bad_percent, *policy.max_percent_of_old);
    return d;
  }
  if (!channel.rollout) {
    d.code = "no-rollout";
    d.sentence = fmt::format("release {} is healthy and already offered to every host", rel);
    return d;
  }
  auto current = CurrentStep(channel);
  if (!current) {
    d.code = "not-a-step-rollout";
    d.sentence = fmt::format(
        "release {} is healthy; its rollout is a time-based wave without a limit, which the "
        "guard does not step",
        rel);
    return d;
  }
  std::optional<uint32_t> next;
  for (uint32_t step : policy.steps) {
    if (step > *current) {
      next = step;
      break;
    }
  }
  if (!next) {
    d.code = "at-last-step";
    d.sentence = fmt::format("release {} is healthy at {}%, the policy's last step", rel, *current);
    return d;
  }
  if (now < step_started || now - step_started < policy.soak) {
    auto left = policy.soak - std::max(std::chrono::seconds(0), now - step_started);
    d.code = "soaking";
    d.sentence = fmt::format("release {} is healthy at {}%; the step soaks {} more before {}%", rel,
                             *current, FormatDuration(left), *next);
    return d;
  }
  d.action = GuardAction::kWiden;
  d.code = "healthy";
  d.widen_to = next;
  d.sentence = fmt::format(
      "release {} is healthy ({} of {} hosts bad, {:.1f}%) after soaking at {}%: widened to {}%",
      rel, bad, tried, d.new_bad_percent, *current, *next);
  return d;
}

}  // namespace basalt::guard
