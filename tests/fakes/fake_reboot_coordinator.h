// A RebootCoordinator that answers from a script: the gates MayReboot returns (or its errors, as
// an unreachable etcd) and the results of AfterBoot. Counts the calls and tracks whether it would
// hold a reboot slot now (a yes from MayReboot not yet given back), so a test can check that the
// host reboots only while it holds one.
#pragma once

#include <deque>
#include <mutex>
#include <string>

#include "daemon/reboot_coordinator.h"

namespace basalt::fakes {

class FakeRebootCoordinator : public update::RebootCoordinator {
 public:
  explicit FakeRebootCoordinator(std::string strategy = "fake") : strategy_(std::move(strategy)) {}

  // The next MayReboot answers `gate` (or fails with its error). Once the script is used up it
  // answers the default gate (a wait, "fake: not yet").
  void QueueGate(Result<update::RebootGate> gate);
  void set_default_gate(update::RebootGate gate);
  // The next AfterBoot returns `status`; unscripted ones succeed.
  void QueueAfterBoot(Status status);

  std::string_view strategy() const override { return strategy_; }
  Result<update::RebootGate> MayReboot(std::chrono::system_clock::time_point now) override;
  Status AfterBoot() override;

  int may_reboot_calls() const;
  int after_boot_calls() const;
  bool held() const;

 private:
  std::string strategy_;
  mutable std::mutex mu_;
  std::deque<Result<update::RebootGate>> gates_;
  update::RebootGate default_gate_{false, "fake: not yet"};
  std::deque<Status> after_boots_;
  int may_reboot_calls_ = 0;
  int after_boot_calls_ = 0;
  bool held_ = false;
};

}  // namespace basalt::fakes
