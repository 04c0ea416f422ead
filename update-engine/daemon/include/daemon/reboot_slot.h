// The reboot strategy's side of an update, as basalt-updated and the offline commands both run
// it: ask whether the host may reboot now (RebootCoordinator::MayReboot, which may take a slot of
// the fleet's etcd semaphore), and once the new boot is judged, give that slot back
// (RebootCoordinator::AfterBoot). etcd may be unreachable at either step: both then back off,
// and a host never reboots without the strategy's yes.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/log.h"
#include "daemon/backoff.h"
#include "daemon/reboot_coordinator.h"

namespace basalt::update {

struct RebootDecision {
  bool reboot_now = false;
  // Why not yet: the strategy's own reason, or "<error>; not rebooting, retrying" when it could
  // not be asked.
  std::string wait_reason;
  // The stable code beside it (docs/daemon.md): "reboot-window" (outside the maintenance
  // window), "reboot-lock" (the etcd group is full), "need-reboot" (REBOOT_STRATEGY=off: an
  // operator reboots), "reboot-gate-unreachable" (the strategy could not be asked).
  std::string wait_reason_code;
  // The strategy could not be asked (etcd unreachable); ask again after retry_in.
  std::optional<Error> error;
  std::chrono::milliseconds retry_in{0};
};

class RebootSlot {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // `backoff` paces the retries of both steps; `coordinator` must outlive this.
  RebootSlot(RebootCoordinator& coordinator, Backoff backoff, Logger& log)
      : coordinator_(coordinator), backoff_(std::move(backoff)), log_(log) {}

  std::string_view strategy() const { return coordinator_.strategy(); }

  // Asks the strategy. After an error, next_ask() says when asking again is due. An answer
  // (yes or wait) also ends a pending release: a slot still to be given back from the last
  // update is this update's slot now (MayReboot re-entered it), and releasing it later would let
  // the host reboot without it.
  RebootDecision Ask(TimePoint now);
  TimePoint next_ask() const { return next_ask_; }

  // Gives the slot back now. A failure is logged and leaves the release pending, due again at
  // next_release(); the caller need not handle it. Returns whether the slot was given back.
  bool Release(TimePoint now);
  // The state says the boot was judged (good, rolled back) but the release may not have
  // happened before a crash: it is due at once. Releasing is idempotent.
  void set_release_pending() {
    release_pending_ = true;
    next_release_ = {};
  }
  bool release_pending() const { return release_pending_; }
  TimePoint next_release() const { return next_release_; }

  // The offline commands: Release until it succeeds, sleeping between tries. Gives up with the
  // last error once the next try would start more than `wait` from now (0: never gives up).
  Status ReleaseWithin(std::chrono::seconds wait,
                       const std::function<void(std::chrono::milliseconds)>& sleep);

 private:
  RebootCoordinator& coordinator_;
  Backoff backoff_;
  Logger& log_;
  TimePoint next_ask_{};
  bool release_pending_ = false;
  TimePoint next_release_{};
  std::chrono::milliseconds release_retry_in_{0};
  std::optional<Error> release_error_;
};

}  // namespace basalt::update
