// What the boot the daemon starts in means for an update that was staged or pending: the new
// slot came up (wait for its health checks), the bootloader fell back to the old slot (a
// rollback), or nothing happened (no update, or the daemon restarted within the staging boot).
#pragma once

#include <string_view>

#include "daemon/state_store.h"

namespace basalt::update {

enum class BootOutcome {
  kNothing,        // no staged or pending update, or still the boot that staged it
  kPendingHealth,  // the updated slot runs: wait for its health checks, then mark it good
  kRolledBack,     // the other slot runs: the updated one failed to come up healthy
};

// `active_slot` is the slot this boot runs ("A"/"B"). A pending-health state is judged again
// after every start: the health timeout reboots the host, and if the bootloader's tries are
// used up it is the old slot that comes back, still with the pending state on disk.
BootOutcome JudgeBoot(const UpdateState& s, std::string_view boot_id, std::string_view active_slot);

}  // namespace basalt::update
