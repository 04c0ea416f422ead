#include "daemon/backoff.h"

#include <algorithm>

namespace basalt::update {

Backoff::Backoff(const RetryPolicy& policy, std::function<double()> random01)
    : policy_(policy), random01_(std::move(random01)) {}

std::chrono::milliseconds Backoff::Next() {
  double base = static_cast<double>(policy_.initial.count());
  for (int i = 0; i < attempt_ && base < static_cast<double>(policy_.cap.count()); ++i)
    base *= 2;
  base = std::min(base, static_cast<double>(policy_.cap.count()));
  ++attempt_;
  double factor = 1.0 + policy_.jitter * (2.0 * random01_() - 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(base * factor));
}

}  // namespace basalt::update
