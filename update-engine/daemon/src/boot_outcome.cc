#include "daemon/boot_outcome.h"

namespace basalt::update {

BootOutcome JudgeBoot(const UpdateState& s, std::string_view boot_id,
                      std::string_view active_slot) {
  switch (s.phase) {
    case Phase::kUpdatedNeedReboot:
      if (s.staged_boot_id == boot_id) return BootOutcome::kNothing;
      break;
    case Phase::kPendingHealth:
      break;
    default:
      return BootOutcome::kNothing;
  }
  return active_slot == s.target_slot ? BootOutcome::kPendingHealth : BootOutcome::kRolledBack;
}

}  // namespace basalt::update
