// The rollout policy `basalt rollout guard` enforces, from a JSON file the operator writes:
//   {"steps": [1, 10, 50, 100], "soak": "1h", "min_hosts": 3,
//    "max_bad_percent": 5, "max_percent_of_old": 200}
// JSON rather than TOML because the repository reads no TOML anywhere; read strictly (an unknown
// or mistyped field is an error naming it), as a typo in a safety policy must not pass.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::guard {

struct GuardPolicy {
  // The rollout's wave limits in percent of hosts, strictly increasing, 1..100. The guard moves
  // the channel's rollout.limit_percent one step up at a time.
  std::vector<uint32_t> steps;
  // How long a step must have run before the next one (and before a healthy verdict counts).
  std::chrono::seconds soak{0};
  // Hosts that must have tried the new release before the guard judges it at all.
  uint64_t min_hosts = 1;
  // Pause when more than this percentage of the hosts that tried the new release rolled back
  // or are failing to install it.
  uint32_t max_bad_percent = 0;
  // Pause when the new release's bad rate is above this percentage of the other releases'
  // (200: twice as bad). Judged only while the others' rate is above zero. Absent: not used.
  std::optional<uint32_t> max_percent_of_old = {};
};

Result<GuardPolicy> ParseGuardPolicy(std::string_view text);

}  // namespace basalt::guard
