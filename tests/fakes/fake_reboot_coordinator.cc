#include "fakes/fake_reboot_coordinator.h"

namespace basalt::fakes {

void FakeRebootCoordinator::QueueGate(Result<update::RebootGate> gate) {
  std::lock_guard lock(mu_);
  gates_.push_back(std::move(gate));
}

void FakeRebootCoordinator::set_default_gate(update::RebootGate gate) {
  std::lock_guard lock(mu_);
  default_gate_ = std::move(gate);
}

void FakeRebootCoordinator::QueueAfterBoot(Status status) {
  std::lock_guard lock(mu_);
  after_boots_.push_back(std::move(status));
}

Result<update::RebootGate> FakeRebootCoordinator::MayReboot(std::chrono::system_clock::time_point) {
  std::lock_guard lock(mu_);
  ++may_reboot_calls_;
  Result<update::RebootGate> gate = default_gate_;
  if (!gates_.empty()) {
    gate = std::move(gates_.front());
    gates_.pop_front();
  }
  if (gate && gate->reboot_now) held_ = true;
  return gate;
}

Status FakeRebootCoordinator::AfterBoot() {
  std::lock_guard lock(mu_);
  ++after_boot_calls_;
  Status s;
  if (!after_boots_.empty()) {
    s = std::move(after_boots_.front());
    after_boots_.pop_front();
  }
  if (s) held_ = false;
  return s;
}

int FakeRebootCoordinator::may_reboot_calls() const {
  std::lock_guard lock(mu_);
  return may_reboot_calls_;
}

int FakeRebootCoordinator::after_boot_calls() const {
  std::lock_guard lock(mu_);
  return after_boot_calls_;
}

bool FakeRebootCoordinator::held() const {
  std::lock_guard lock(mu_);
  return held_;
}

}  // namespace basalt::fakes
