// What a host does once it rebooted with an update staged, written once for basalt-updated (at
// start and on MarkGood) and `basalt update after-boot` (a disk image that "booted"): judge the
// boot, bless the new slot or record the rollback, tell the update server (Omaha 3/2 or 3/0
// code 2000), and give the reboot slot back, retrying with backoff while etcd is unreachable.
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include "boot/slot_policy.h"
#include "common/error.h"
#include "common/log.h"
#include "daemon/boot_outcome.h"
#include "daemon/reboot_slot.h"
#include "daemon/state_store.h"
#include "daemon/update_source.h"
#include "daemon/update_target.h"

namespace basalt::update {

// The updated slot runs: wait for its health checks before marking it good.
void BeginPendingHealth(UpdateState& s);

struct AfterBootParts {
  UpdateTarget& target;
  UpdateSource* source = nullptr;  // nullptr: there is no server to tell
  RebootSlot& reboot_slot;
  Logger& log;
  // Saves a changed state (the daemon also publishes it on D-Bus).
  std::function<Status(const UpdateState&)> persist;
  // The reporting host, asked when a report goes out (current_version is what runs then).
  std::function<HostFacts()> facts;
  std::function<std::chrono::system_clock::time_point()> now = std::chrono::system_clock::now;
};

class AfterBootSteps {
 public:
  explicit AfterBootSteps(AfterBootParts parts) : p_(std::move(parts)) {}

  // basalt-updated at start: what this boot (`boot_id`, running `active`) means for a staged or
  // pending update (JudgeBoot). The updated slot runs: pending-health, persisted. The other slot
  // runs after a reboot: RolledBack. Otherwise nothing changes.
  Result<BootOutcome> Judge(UpdateState& s, std::string_view boot_id, boot::Slot active);

  // The running slot passed its health checks: the bootloader marks it good. An update pending
  // health becomes good, is reported, and the reboot slot goes back.
  Status MarkGood(UpdateState& s, boot::Slot active);

  // The bootloader fell back to `booted`: the rollback is recorded (RecordRollback), reported,
  // and the reboot slot goes back.
  Status RolledBack(UpdateState& s, boot::Slot booted);

 private:
  // A report that does not reach the server never undoes the step: it is logged and dropped.
  void Report(UpdateEvent event, std::string_view what);

  AfterBootParts p_;
};

}  // namespace basalt::update
