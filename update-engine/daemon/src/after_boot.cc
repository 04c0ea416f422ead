#include "daemon/after_boot.h"

#include <fmt/format.h>

namespace basalt::update {

void BeginPendingHealth(UpdateState& s) {
  s.phase = Phase::kPendingHealth;
  s.booted_version = s.version;
  SetWaitReason(s, "pending-health",
                "waiting for boot-complete.target and its health checks before marking slot " +
                    s.target_slot + " good");
}

Result<BootOutcome> AfterBootSteps::Judge(UpdateState& s, std::string_view boot_id,
                                          boot::Slot active) {
  const BootOutcome outcome = JudgeBoot(s, boot_id, boot::SlotName(active));
  switch (outcome) {
    case BootOutcome::kNothing:
      break;
    case BootOutcome::kPendingHealth:
      // Also after a daemon restart or a reboot that used another try: the caller's health
      // timeout counts from this start, so it is never left without a deadline.
      BeginPendingHealth(s);
      BASALT_RETURN_IF_ERROR(p_.persist(s));
      break;
    case BootOutcome::kRolledBack:
      BASALT_RETURN_IF_ERROR(RolledBack(s, active));
      break;
  }
  return outcome;
}

Status AfterBootSteps::MarkGood(UpdateState& s, boot::Slot active) {
  BASALT_RETURN_IF_ERROR(p_.target.boot().MarkGood(active));
  // The health unit blesses every boot; only a boot that was waiting for it moves the state.
  if (s.phase != Phase::kPendingHealth) return {};
  s.phase = Phase::kGood;
  ClearWaitReason(s);
  BASALT_RETURN_IF_ERROR(p_.persist(s));
  Report(UpdateEvent::kUpdatedAndRebooted, "update");
  // A failure is logged and retried later (RebootSlot); a good boot never waits on etcd.
  p_.reboot_slot.Release(p_.now());
  return {};
}

Status AfterBootSteps::RolledBack(UpdateState& s, boot::Slot booted) {
  RecordRollback(s, boot::SlotName(booted));
  BASALT_RETURN_IF_ERROR(p_.persist(s));
  p_.log.Warn(s.last_error,
              {{"VERSION", s.version}, {"SLOT", s.target_slot}, {"ERROR_CODE", s.last_error_code}});
  Report(UpdateEvent::kRolledBack, "rollback");
  // As in MarkGood: a recorded rollback never waits on etcd.
  p_.reboot_slot.Release(p_.now());
  return {};
}

void AfterBootSteps::Report(UpdateEvent event, std::string_view what) {
  if (p_.source == nullptr) return;
  if (auto r = p_.source->Report(p_.facts(), event, 0); !r) {
    // The step is done and persisted; the server learns the outcome from the next check's
    // version, so a lost event is not worth failing (or redoing) the step.
    p_.log.Warn(fmt::format("cannot report the {} to the server: {}", what, r.error().message()),
                {{"ERROR", r.error().message()}});
  }
}

}  // namespace basalt::update
