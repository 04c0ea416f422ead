// The CLI side of org.basalt.Update1: read the daemon's properties and call its methods over the
// system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured, which the tests use for a private bus).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/error.h"
#include "daemon/update_target.h"

namespace basalt::update {

struct DaemonStatus {
  std::string state, current_version, current_slot, next_version, channel, last_check, last_error,
      wait_reason;
  // The stable codes beside last_error and wait_reason (docs/daemon.md).
  std::string last_error_code, wait_reason_code;
  // The daemon's Check/Apply run counter and the last failed run's number (0: none).
  uint64_t operation = 0, failed_operation = 0;
  std::vector<SlotView> slots;  // D-Bus "Slots"
  double progress = 0;
  bool busy = false;
  // The counters (the same numbers as the metrics file).
  std::string last_success;
  uint64_t downloaded_delta_bytes = 0, downloaded_full_bytes = 0, rollbacks = 0;
  std::map<std::string, uint64_t> failures;
  // This boot's measured-boot judgement (daemon/measured_boot.h): code, sentence, PCR 11.
  std::string measured_boot, measured_boot_message, measured_pcr11;
  bool operator==(const DaemonStatus&) const = default;
};

Result<DaemonStatus> GetDaemonStatus();
// method: Check, Apply (with arg), Cancel, Rollback, MarkGood.
Status CallDaemon(const std::string& method, const std::string& arg = "");

}  // namespace basalt::update
