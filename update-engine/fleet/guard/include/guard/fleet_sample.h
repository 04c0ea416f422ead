// What the fleet says about one channel's rollout, read from Prometheus: the hosts running the
// channel's new release, those that rolled back from it or are failing to install it, and the
// same for every other release (the baseline). Built from the shipped metrics only
// (basalt_update_info, basalt_update_rolled_back_release, basalt_update_attempt_info,
// basalt_update_state).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "guard/prometheus_query.h"
#include "http/fetcher.h"

namespace basalt::guard {

// Counts as Prometheus returned them (doubles: GuardDecision refuses to act on NaN, negative,
// fractional or absurd ones rather than trusting the server).
struct FleetSample {
  double new_hosts = 0;      // running the new release now
  double new_rollbacks = 0;  // booted it and fell back
  // tried it, failed to install it and gave up (idle, still on another release, not rolled back)
  double new_failing = 0;
  double old_hosts = 0;      // running any other release
  double old_rollbacks = 0;  // fell back from any other release
};

// The PromQL each count comes from, so the CLI and the docs show exactly what was asked.
struct FleetQueries {
  std::string hosts_by_version;
  std::string rollbacks_by_release;
  std::string new_failing;
};
FleetQueries QueriesFor(std::string_view channel, std::string_view release);

// Pure: the sample from the three answers (a version or release absent from an answer: 0).
Result<FleetSample> SampleFromAnswers(std::string_view release,
                                      const std::vector<PromSample>& hosts_by_version,
                                      const std::vector<PromSample>& rollbacks_by_release,
                                      const std::vector<PromSample>& new_failing);

Result<FleetSample> ReadFleetSample(http::Fetcher& fetcher, std::string_view prometheus,
                                    std::string_view channel, std::string_view release);

}  // namespace basalt::guard
