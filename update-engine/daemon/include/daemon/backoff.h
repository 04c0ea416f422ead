// Capped exponential backoff for network faults: 1 s, 2 s, 4 s, ... up to a cap, with jitter so a
// fleet that lost its mirror at once does not come back in lockstep.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace basalt::update {

struct RetryPolicy {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds cap{5 * 60 * 1000};
  // Attempts per download before the flow gives up until the next check (0 = unlimited).
  int max_attempts = 12;
  double jitter = 0.2;  // +-20 %
};

class Backoff {
 public:
  // random01 returns a value in [0, 1); tests pass a fixed one.
  Backoff(const RetryPolicy& policy, std::function<double()> random01);
  // The delay before the next attempt; grows until the cap.
  std::chrono::milliseconds Next();
  // A transfer that made progress starts the sequence over.
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  RetryPolicy policy_;
  std::function<double()> random01_;
  int attempt_ = 0;
};

}  // namespace basalt::update
