// The built-in reboot strategies behind RebootCoordinator: off (stage and report), reboot (right
// away), window (only inside the configured maintenance window, in local time). etcd-lock is the
// fleet's and plugs in through the same interface.
#pragma once

#include <ctime>
#include <memory>
#include <string>

#include "common/log.h"
#include "daemon/config.h"
#include "daemon/reboot_coordinator.h"

namespace basalt::update {

std::unique_ptr<RebootCoordinator> NewOffCoordinator();
std::unique_ptr<RebootCoordinator> NewRebootNowCoordinator();
// `to_local` converts a time point to local broken-down time (tests pass UTC).
std::unique_ptr<RebootCoordinator> NewWindowCoordinator(daemon::RebootWindow window,
                                                        std::tm (*to_local)(std::time_t) = nullptr);

// Whether a local time (weekday 0 = Sunday, minute of the day) is inside the window, and if not,
// how many minutes until it opens.
struct WindowCheck {
  bool inside = false;
  int minutes_until_open = 0;
};
WindowCheck CheckWindow(const daemon::RebootWindow& w, int weekday, int minute_of_day);

// "Thu 04:00 for 1h30m" / "daily 04:00 for 1h".
std::string DescribeWindow(const daemon::RebootWindow& w);

// The strategy REBOOT_STRATEGY names; etcd-lock (fleet::EtcdLockCoordinator) contends as
// machine_id and logs what it leaves to etcd to clean up to `log` (nullptr: stderr).
Result<std::unique_ptr<RebootCoordinator>> MakeRebootCoordinator(const daemon::UpdateConfig& cfg,
                                                                 const std::string& machine_id = "",
                                                                 Logger* log = nullptr);

}  // namespace basalt::update
