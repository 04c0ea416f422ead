#include "daemon/update_manager.h"

#include <random>

#include "common/printable.h"
#include "common/time_util.h"
#include "daemon/boot_outcome.h"
#include "daemon/fleet_wiring.h"
#include "daemon/reboot_strategies.h"
#include "daemon/update_flow.h"
#include "repo/names.h"

namespace basalt::update {
namespace {

std::function<double()> RandomDevice01() {
  return [] {
    std::random_device rd;
    return std::uniform_real_distribution<double>(0, 1)(rd);
  };
}

}  // namespace

Result<ManagerParts> MakeManagerParts(const ManagerOptions& options, Logger& log) {
  ManagerParts p;
  BASALT_ASSIGN_OR_RETURN(HostTrust trust,
                          HostTrust::Load({.keys_dir = options.keys_dir,
                                           .root_file = options.root_file,
                                           .state_dir = options.state_dir,
                                           .min_threshold = options.config.threshold}));
  if (!trust.load_warning().empty()) {
    log.Warn(trust.load_warning(), {{"ERROR", trust.load_warning()}});
  }
  if (trust.has_root() && options.config.protocol == daemon::UpdateProtocol::kOmaha &&
      options.config.root_server.empty()) {
    // Omaha serves no roots/: this host checks payloads against the release keys of the root it
    // has, and learns of a rotation or revocation only from an OS update that ships a newer root.
    const std::string why =
        "PROTOCOL=omaha without ROOT_SERVER: the repository root is not followed (Omaha serves "
        "no roots/); payloads are checked against the release keys of root version " +
        std::to_string(trust.root()->root.version) +
        ", and a revocation reaches this host only with an image that ships a newer root";
    log.Warn(why, {{"ERROR", why}});
  }
  p.trust = std::make_unique<HostTrust>(std::move(trust));
  p.fetcher = http::MakeCurlFetcher(FetchOptionsFor(options.config));
  BASALT_ASSIGN_OR_RETURN(p.source, MakeUpdateSource(options.config, *p.fetcher, *p.trust));
  if (options.disk) {
    BASALT_ASSIGN_OR_RETURN(p.target, OpenDiskImageTarget(*options.disk));
  } else {
    BASALT_ASSIGN_OR_RETURN(p.target, OpenHostTarget());
  }
  BASALT_ASSIGN_OR_RETURN(p.coordinator,
                          MakeRebootCoordinator(options.config, options.machine_id, &log));
  return p;
}

Result<std::unique_ptr<UpdateManager>> UpdateManager::Create(ManagerOptions options, Logger& log) {
  BASALT_ASSIGN_OR_RETURN(ManagerParts parts, MakeManagerParts(options, log));
  return Create(std::move(options), std::move(parts), log);
}

UpdateManager::UpdateManager(ManagerOptions o, ManagerParts parts, Logger& log)
    : opt_(std::move(o)), log_(log), parts_(std::move(parts)) {
  if (!parts_.random01) parts_.random01 = RandomDevice01();
  if (!parts_.now) parts_.now = std::chrono::system_clock::now;
}

Result<std::unique_ptr<UpdateManager>> UpdateManager::Create(ManagerOptions options,
                                                             ManagerParts parts, Logger& log) {
  if (!parts.trust || !parts.fetcher || !parts.source || !parts.target || !parts.coordinator) {
    return Fail(ErrorKind::kInternal, "update manager: a part is missing");
  }
  std::unique_ptr<UpdateManager> m(new UpdateManager(std::move(options), std::move(parts), log));
  RetryPolicy lock_retry;
  lock_retry.initial = std::chrono::seconds(5);
  m->reboot_slot_ = std::make_unique<RebootSlot>(*m->parts_.coordinator,
                                                 Backoff(lock_retry, m->parts_.random01), log);
  m->store_ = std::make_unique<StateStore>(m->opt_.state_dir);
  // Cancel also stops a transfer in progress, not only the next phase.
  m->parts_.fetcher->SetCancelFlag(&m->cancel_);
  UpdateManager* self = m.get();
  m->after_boot_ = std::make_unique<AfterBootSteps>(AfterBootParts{
      .target = *m->parts_.target,
      .source = m->parts_.source.get(),
      .reboot_slot = *m->reboot_slot_,
      .log = log,
      .persist = [self](const UpdateState& s) { return self->Persist(s); },
      .facts = [self] { return self->Facts(); },
      .now = m->parts_.now,
  });
  WriteMetricsOnSave(
      *m->store_, MetricsPathFor(m->opt_.config, m->opt_.state_dir),
      [self] {
        std::lock_guard lock(self->mu_);
        return self->snap_.current_version;
      },
      m->opt_.config.channel, log);
  BASALT_ASSIGN_OR_RETURN(UpdateState st, m->store_->Load());
  // A good boot or a recorded rollback gives the reboot slot back; after a crash that may not
  // have happened yet (it is idempotent).
  if (st.phase == Phase::kGood || st.phase == Phase::kRolledBack) {
    m->reboot_slot_->set_release_pending();
  }
  // A flow killed mid-way resumes on the next Apply (or periodic run); the state says where.
  m->snap_.state = st;
  m->snap_.channel = m->opt_.config.channel;
  BASALT_RETURN_IF_ERROR(m->RefreshCurrent());
  m->next_check_ = m->parts_.now() + std::chrono::seconds(60);
  return m;
}

UpdateManager::~UpdateManager() {
  cancel_ = true;
  if (worker_.joinable()) worker_.join();
}

Status UpdateManager::RefreshCurrent() {
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, parts_.target->ActiveSlot());
  BASALT_ASSIGN_OR_RETURN(boot::BootStatus bs, parts_.target->boot().GetStatus());
  std::lock_guard lock(mu_);
  ++generation_;
  snap_.current_slot = std::string(boot::SlotName(active));
  snap_.current_version = bs.slots[boot::SlotIndex(active)].version;
  snap_.slots = SlotViews(bs, active);
  ++generation_;
  return {};
}

Status UpdateManager::RefreshSlots() {
  BASALT_ASSIGN_OR_RETURN(boot::BootStatus bs, parts_.target->boot().GetStatus());
  std::lock_guard lock(mu_);
  // What runs does not change until a reboot (a --disk daemon's ActiveSlot would already name
  // the staged slot): "current" stays the slot found at start.
  auto current = boot::ParseSlot(snap_.current_slot);
  if (!current) return std::unexpected(current.error());
  ++generation_;
  snap_.slots = SlotViews(bs, *current);
  ++generation_;
  return {};
}

HostFacts UpdateManager::Facts() const {
  Snapshot s = Get();
  HostFacts h;
  h.current_version = s.current_version;
  h.channel = opt_.config.channel;
  h.machine_id = opt_.machine_id;
  h.boot_id = opt_.boot_id;
  return h;
}

std::chrono::seconds UpdateManager::Jittered(std::chrono::seconds interval) {
  // +-10 %, so a fleet started together spreads its checks.
  const double factor = 0.9 + 0.2 * parts_.random01();
  return std::chrono::seconds(static_cast<int64_t>(static_cast<double>(interval.count()) * factor));
}

Snapshot UpdateManager::Get() const {
  std::lock_guard lock(mu_);
  Snapshot s = snap_;
  s.busy = busy_.load();
  return s;
}

void UpdateManager::Publish(const UpdateState& s) {
  std::lock_guard lock(mu_);
  ++generation_;  // odd while the snapshot changes (the seqlock readers of Generation rely on it)
  snap_.state = s;
  ++generation_;
}

Status UpdateManager::Persist(const UpdateState& s) {
  BASALT_RETURN_IF_ERROR(store_->Save(s));
  Publish(s);
  std::vector<LogField> f = {{"STATE", std::string(PhaseName(s.phase))},
                             {"CHANNEL", opt_.config.channel}};
  if (!s.version.empty()) f.push_back({"VERSION", s.version});
  if (!s.last_error.empty()) f.push_back({"ERROR", s.last_error});
  if (!s.last_error_code.empty()) f.push_back({"ERROR_CODE", s.last_error_code});
  if (!s.wait_reason_code.empty()) f.push_back({"WAIT_REASON_CODE", s.wait_reason_code});
  log_.Info(fmt::format("state {}", PhaseName(s.phase)), f);
  return {};
}

Status UpdateManager::StartFlow(bool check_only, std::optional<std::string> to) {
  uint64_t operation = 0;
  {
    std::lock_guard lock(mu_);
    if (busy_) return Fail(ErrorKind::kPolicy, "an update operation is already running");
    ++generation_;
    busy_ = true;
    snap_.progress = 0;
    operation = ++snap_.operation;
    ++generation_;
  }
  if (worker_.joinable()) worker_.join();
  cancel_ = false;
  FlowOptions fl;
  fl.channel = opt_.config.channel;
  fl.machine_id = opt_.machine_id;
  fl.tries = opt_.config.boot_tries;
  fl.threshold = opt_.config.threshold;
  fl.boot_id = opt_.boot_id;
  fl.extra_cmdline = opt_.extra_cmdline;
  fl.pin = to ? to : opt_.config.pin;
  fl.forced = to.has_value();
  fl.check_only = check_only;
  fl.cancel = &cancel_;
  fl.progress = [this](Phase, uint64_t done, uint64_t total) {
    double p = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0;
    std::lock_guard lock(mu_);
    // Publish only whole-percent steps: PropertiesChanged is not a progress stream.
    if (static_cast<int>(p * 100) != static_cast<int>(snap_.progress * 100)) {
      ++generation_;
      snap_.progress = p;
      ++generation_;
    }
  };
  fl.on_change = [this](const UpdateState& s) {
    UpdateState copy = s;
    if (copy.phase == Phase::kUpdatedNeedReboot && copy.staged_boot_id.empty()) {
      copy.staged_boot_id = opt_.boot_id;
    }
    Publish(copy);
    std::vector<LogField> f = {{"STATE", std::string(PhaseName(s.phase))},
                               {"CHANNEL", opt_.config.channel}};
    if (!s.version.empty()) f.push_back({"VERSION", s.version});
    if (!s.last_error.empty()) f.push_back({"ERROR", s.last_error});
    if (!s.last_error_code.empty()) f.push_back({"ERROR_CODE", s.last_error_code});
    if (!s.wait_reason_code.empty()) f.push_back({"WAIT_REASON_CODE", s.wait_reason_code});
    log_.Info(fmt::format("state {}", PhaseName(s.phase)), f);
  };
  worker_ = std::thread([this, operation, fl = std::move(fl)]() mutable {
    Result<UpdateState> r = RunFlowCatching(std::move(fl));
    if (r && r->phase == Phase::kUpdatedNeedReboot && r->staged_boot_id.empty()) {
      UpdateState s = *r;
      s.staged_boot_id = opt_.boot_id;
      if (auto p = store_->Save(s); !p) log_.Error(p.error().message());
      Publish(s);
    } else if (!r) {
      // The flow recorded its error in the state; show what it persisted.
      if (auto st = store_->Load(); st) {
        Publish(*st);
      } else {
        // The snapshot keeps the last published state; the error is the flow's, logged by it.
        log_.Error("cannot read back the state after a failed run: " + st.error().message(),
                   {{"ERROR", st.error().message()}});
      }
    }
    // The run may have made the other slot next (or marked it bad): status shows the slots.
    if (auto c = RefreshSlots(); !c) {
      log_.Warn("cannot read the slots after the run: " + c.error().message(),
                {{"ERROR", c.error().message()}});
    }
    std::lock_guard lock(mu_);
    ++generation_;
    if (!r) snap_.failed_operation = operation;
    busy_ = false;
    ++generation_;
  });
  return {};
}

Result<UpdateState> UpdateManager::RunFlowCatching(FlowOptions fl) {
  // No exception may end the worker thread: std::terminate would take the daemon down, systemd
  // would restart it into the same input, and nothing would be recorded. A throw anywhere in the
  // flow (a library, the allocator) becomes a recorded error and the daemon keeps serving.
  std::string what;
  try {
    UpdateFlow flow(*parts_.source, *parts_.fetcher, *parts_.trust, *parts_.target, *store_, log_,
                    std::move(fl));
    return flow.Run();
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  const std::string message =
      "internal error: the update run stopped with an exception: " + Printable(what, 1024);
  log_.Error(message, {{"ERROR", message}});
  try {
    UpdateState s = Get().state;
    if (auto st = store_->Load(); st) s = *st;
    // What was planned stays (a fault in one run says nothing about the payload); a check in
    // progress is over.
    if (s.phase == Phase::kChecking) s.phase = Phase::kIdle;
    SetLastError(s, message, "internal");
    ++s.failures["internal"];
    if (auto p = store_->Save(s); !p) log_.Error("cannot record the error: " + p.error().message());
  } catch (...) {
    log_.Error("cannot record the error: recording threw as well");
  }
  return Fail(ErrorKind::kInternal, message);
}

Status UpdateManager::StartCheck() {
  return StartFlow(true, std::nullopt);
}
Status UpdateManager::StartApply(std::optional<std::string> to) {
  // A malformed version is the caller's mistake (InvalidInput, exit 3), refused before a run
  // starts, as `apply --disk --to` refuses it.
  if (to) BASALT_RETURN_IF_ERROR(repo::CheckVersion(*to, "--to"));
  return StartFlow(false, to);
}

Status UpdateManager::Cancel() {
  if (!busy_) return Fail(ErrorKind::kPolicy, "nothing to cancel: no update is running");
  cancel_ = true;
  return {};
}

Status UpdateManager::Rollback() {
  if (busy_) return Fail(ErrorKind::kPolicy, "an update is running; cancel it first");
  BASALT_RETURN_IF_ERROR(parts_.target->boot().Rollback());
  UpdateState s = Get().state;
  SetWaitReason(s, "need-reboot",
                "rollback requested: the other slot boots next; reboot to use it");
  BASALT_RETURN_IF_ERROR(Persist(s));
  return RefreshCurrent();
}

Status UpdateManager::MarkGood() {
  if (busy_) return Fail(ErrorKind::kPolicy, "an update is running");
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, parts_.target->ActiveSlot());
  UpdateState s = Get().state;
  BASALT_RETURN_IF_ERROR(after_boot_->MarkGood(s, active));
  return RefreshSlots();
}

Status UpdateManager::AfterBoot() {
  if (opt_.disk) return {};
  UpdateState s = Get().state;
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, parts_.target->ActiveSlot());
  BASALT_ASSIGN_OR_RETURN(BootOutcome outcome, after_boot_->Judge(s, opt_.boot_id, active));
  if (outcome == BootOutcome::kPendingHealth) pending_since_ = parts_.now();
  return JudgeThisBoot();
}

Status UpdateManager::JudgeThisBoot() {
  Snapshot snap = Get();
  UpdateState s = snap.state;
  const auto p = s.pcr11_predictions.find(snap.current_slot);
  std::optional<MeasuredBootExpectation> expectation;
  if (p != s.pcr11_predictions.end()) expectation = p->second;
  s.measured_boot = JudgeMeasuredBoot(expectation, snap.current_version, snap.current_slot,
                                      ReadSysfsPcr(opt_.pcr_dir, 11));
  const MeasuredBootReport& r = s.measured_boot;
  const std::vector<LogField> f = {{"MEASURED_BOOT", r.code},
                                   {"PCR11", r.pcr11},
                                   {"VERSION", snap.current_version},
                                   {"SLOT", snap.current_slot}};
  // A boot the release does not predict is what measured boot exists to catch: said at error
  // priority, every start, until an update or an operator changes it.
  if (r.alarming) {
    log_.Error("measured boot: " + r.message, f);
  } else {
    log_.Info("measured boot: " + r.message, f);
  }
  if (s == snap.state) return {};
  return Persist(s);
}

void UpdateManager::Tick(std::chrono::system_clock::time_point now) {
  if (busy_) return;
  Snapshot snap = Get();
  const UpdateState& s = snap.state;
  if (reboot_slot_->release_pending() && now >= reboot_slot_->next_release() &&
      s.phase != Phase::kUpdatedNeedReboot) {
    // A failure is logged and rescheduled by the reboot slot itself.
    reboot_slot_->Release(now);
  }
  if (s.phase == Phase::kPendingHealth &&
      pending_since_ != std::chrono::system_clock::time_point{} &&
      now - pending_since_ > opt_.config.health_timeout && !reboot_requested_) {
    UpdateState t = s;
    SetLastError(t,
                 fmt::format("health checks did not pass within {}s; rebooting so the "
                             "bootloader's tries run out and it falls back",
                             opt_.config.health_timeout.count()),
                 "health-timeout");
    if (auto p = Persist(t); !p) {
      // Rebooting matters more than the record: the boot after it judges the outcome anyway.
      log_.Error("cannot record the health timeout: " + p.error().message(),
                 {{"ERROR", p.error().message()}});
    }
    // Asked once: a host that cannot reboot itself needs an operator, who finds this in the
    // journal; asking logind again every tick would not help.
    reboot_requested_ = true;
    if (opt_.reboot) {
      if (auto r = opt_.reboot(); !r) {
        log_.Error("cannot reboot after the health timeout: " + r.error().message(),
                   {{"ERROR", r.error().message()}});
      }
    }
    return;
  }
  if (s.phase == Phase::kUpdatedNeedReboot && !reboot_requested_) {
    if (now < reboot_slot_->next_ask()) return;
    RebootDecision gate = reboot_slot_->Ask(now);
    if (gate.error) {
      UpdateState t = s;
      SetWaitReason(t, gate.wait_reason_code,
                    fmt::format("{} in {} s", gate.wait_reason, gate.retry_in.count() / 1000));
      if (auto p = Persist(t); !p) {
        // The wait reason is for status only; the gate is asked again after the backoff.
        log_.Warn("cannot record why the host waits: " + p.error().message(),
                  {{"ERROR", p.error().message()}});
      }
      return;
    }
    if (gate.reboot_now && opt_.reboot && !opt_.disk) {
      reboot_requested_ = true;
      log_.Info(fmt::format("rebooting into version {}", s.version),
                {{"VERSION", s.version}, {"CHANNEL", opt_.config.channel}});
      if (auto r = opt_.reboot(); !r) {
        reboot_requested_ = false;
        log_.Error(r.error().message(), {{"ERROR", r.error().message()}});
      }
    } else if (gate.wait_reason != s.wait_reason) {
      UpdateState t = s;
      SetWaitReason(t, gate.wait_reason_code, gate.wait_reason);
      if (auto p = Persist(t); !p) {
        // As above: status only; the next tick records it again.
        log_.Warn("cannot record why the host waits: " + p.error().message(),
                  {{"ERROR", p.error().message()}});
      }
    }
    return;
  }
  // An idle host checks; a flow interrupted by a crash or restart (checking to finalizing)
  // continues on its own. A staged or pending update waits for the reboot and the health checks
  // instead.
  if (opt_.periodic_checks && now >= next_check_ && s.phase != Phase::kPendingHealth &&
      s.phase != Phase::kUpdatedNeedReboot) {
    next_check_ = now + Jittered(opt_.config.check_interval);
    if (auto r = StartApply(std::nullopt); !r) {
      // Only refused while another operation runs; the next check comes at next_check_.
      log_.Warn("periodic check not started: " + r.error().message(),
                {{"ERROR", r.error().message()}});
    }
  }
}

}  // namespace basalt::update
