// When may a host with a staged update reboot? The strategies (off, reboot, window, and the fleet's
// etcd-lock) sit behind this interface so the update flow does not know which one it runs, and
// tests can drive the flow with a fake.
#pragma once
#include <chrono>
#include <string>

#include "common/error.h"

namespace basalt::update {

struct RebootGate {
  bool reboot_now = false;
  // Why the host is not rebooting yet, for `basalt update status` ("outside the maintenance
  // window Thu 04:00 +1h", "etcd lock group default is full: 1/1 held by HOST").
  std::string wait_reason;
};

class RebootCoordinator {
 public:
  virtual ~RebootCoordinator() = default;
  virtual std::string_view strategy() const = 0;  // "off", "reboot", "window", "etcd-lock"
  // Called repeatedly while an update is staged. May take a resource (a lock slot) that must be
  // held through the reboot; it is then kept until AfterBoot().
  virtual Result<RebootGate> MayReboot(std::chrono::system_clock::time_point now) = 0;
  // Called once the booted slot is marked good, or a rollback has been recorded. Releases whatever
  // MayReboot took. Must be idempotent: it runs again after a crash.
  virtual Status AfterBoot() = 0;
};

}  // namespace basalt::update
