// A Prometheus server's instant-query answers, as `basalt rollout guard` reads them: every shape
// must be an error or well-formed samples that the fleet sample and the decision take without
// crashing, and no hostile number may make the guard widen.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "guard/fleet_sample.h"
#include "guard/guard_decision.h"
#include "guard/prometheus_query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace basalt::guard;
  auto samples = ParseVectorAnswer(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!samples) {
    if (samples.error().message().empty()) __builtin_trap();
    return 0;
  }
  // The same answer for every query: hosts, rollbacks (by label) and the failing count.
  auto sample = SampleFromAnswers("2.0", *samples, *samples, *samples);
  if (!sample) return 0;
  GuardPolicy p;
  p.steps = {10, 50};
  p.min_hosts = 1;
  p.max_bad_percent = 5;
  basalt::repo::Channel ch;
  ch.name = "stable";
  ch.release = "2.0";
  ch.rollout = basalt::repo::Rollout{.start = {}, .duration = {}, .limit_percent = 10};
  auto d = DecideGuard(p, ch, *sample, {}, basalt::TimePoint(std::chrono::seconds(1)));
  // Widening needs at least one host on the release and a bad rate within the policy.
  if (d.action == GuardAction::kWiden &&
      (!(sample->new_hosts >= 1) || d.new_bad_percent > p.max_bad_percent)) {
    __builtin_trap();
  }
  return 0;
}
