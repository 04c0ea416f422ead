#include "daemon/update_manager.h"

#include <random>

#include "boot_outcome.h"
#include "common/time_util.h"
#include "daemon/fleet_wiring.h"
#include "daemon/reboot_strategies.h"
#include "daemon/update_flow.h"

namespace basalt::update {
namespace {

bool InFlight(Phase p) {
  return p == Phase::kChecking || p == Phase::kDownloading || p == Phase::kApplying ||
         p == Phase::kVerifying || p == Phase::kFinalizing;
}

std::chrono::seconds Jittered(std::chrono::seconds interval) {
  // +-10 %, so a fleet started together spreads its checks.
  std::random_device rd;
  std::uniform_real_distribution<double> d(0.9, 1.1);
  return std::chrono::seconds(static_cast<int64_t>(static_cast<double>(interval.count()) * d(rd)));
}

}  // namespace

Result<std::unique_ptr<UpdateManager>> UpdateManager::Create(ManagerOptions options, Logger& log) {
  std::unique_ptr<UpdateManager> m(new UpdateManager(std::move(options), log));
  BASALT_ASSIGN_OR_RETURN(m->keys_, Keyring::LoadDirectory(m->opt_.keys_dir));
  m->fetcher_ = http::MakeCurlFetcher();
  BASALT_ASSIGN_OR_RETURN(m->source_, MakeUpdateSource(m->opt_.config, *m->fetcher_, m->keys_));
  if (m->opt_.disk) {
    BASALT_ASSIGN_OR_RETURN(m->target_, OpenDiskImageTarget(*m->opt_.disk));
  } else {
    BASALT_ASSIGN_OR_RETURN(m->target_, OpenHostTarget());
  }
  BASALT_ASSIGN_OR_RETURN(m->coordinator_,
                          MakeRebootCoordinator(m->opt_.config, m->opt_.machine_id));
  RetryPolicy lock_retry;
  lock_retry.initial = std::chrono::seconds(5);
  m->lock_backoff_ = std::make_unique<Backoff>(lock_retry, [] {
    std::random_device rd;
    return std::uniform_real_distribution<double>(0, 1)(rd);
  });
  m->store_ = std::make_unique<StateStore>(m->opt_.state_dir);
  UpdateManager* self = m.get();
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
  m->release_pending_ = st.phase == Phase::kGood || st.phase == Phase::kRolledBack;
  // A flow killed mid-way resumes on the next Apply (or periodic run); the state says where.
  m->snap_.state = st;
  m->snap_.channel = m->opt_.config.channel;
  BASALT_RETURN_IF_ERROR(m->RefreshCurrent());
  m->next_check_ = std::chrono::system_clock::now() + std::chrono::seconds(60);
  return m;
}

UpdateManager::~UpdateManager() {
  cancel_ = true;
  if (worker_.joinable()) worker_.join();
}

Status UpdateManager::RefreshCurrent() {
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, target_->ActiveSlot());
  BASALT_ASSIGN_OR_RETURN(boot::BootStatus bs, target_->boot().GetStatus());
  std::lock_guard lock(mu_);
  snap_.current_slot = std::string(boot::SlotName(active));
  snap_.current_version = bs.slots[boot::SlotIndex(active)].version;
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

void UpdateManager::ReleaseRebootLock(std::chrono::system_clock::time_point now) {
  if (auto r = coordinator_->AfterBoot(); !r) {
    auto delay = lock_backoff_->Next();
    release_pending_ = true;
    next_release_try_ = now + delay;
    log_.Warn(fmt::format("cannot give back the reboot slot ({}); retrying in {} s",
                          r.error().message(), delay.count() / 1000),
              {{"ERROR", r.error().message()}});
    return;
  }
  lock_backoff_->Reset();
  release_pending_ = false;
}

Snapshot UpdateManager::Get() const {
  std::lock_guard lock(mu_);
  Snapshot s = snap_;
  s.busy = busy_.load();
  return s;
}

void UpdateManager::Publish(const UpdateState& s) {
  {
    std::lock_guard lock(mu_);
    snap_.state = s;
  }
  ++generation_;
}

Status UpdateManager::Persist(const UpdateState& s) {
  BASALT_RETURN_IF_ERROR(store_->Save(s));
  Publish(s);
  std::vector<LogField> f = {{"STATE", std::string(PhaseName(s.phase))},
                             {"CHANNEL", opt_.config.channel}};
  if (!s.version.empty()) f.push_back({"VERSION", s.version});
  if (!s.last_error.empty()) f.push_back({"ERROR", s.last_error});
  log_.Info(fmt::format("state {}", PhaseName(s.phase)), f);
  return {};
}

Status UpdateManager::StartFlow(bool check_only, std::optional<std::string> to) {
  bool expected = false;
  if (!busy_.compare_exchange_strong(expected, true)) {
    return Fail(ErrorKind::kPolicy, "an update operation is already running");
  }
  if (worker_.joinable()) worker_.join();
  cancel_ = false;
  {
    std::lock_guard lock(mu_);
    snap_.progress = 0;
  }
  ++generation_;
  FlowOptions fl;
  fl.channel = opt_.config.channel;
  fl.machine_id = opt_.machine_id;
  fl.tries = opt_.config.boot_tries;
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
    log_.Info(fmt::format("state {}", PhaseName(s.phase)), f);
  };
  worker_ = std::thread([this, fl = std::move(fl)]() mutable {
    UpdateFlow flow(*source_, *fetcher_, keys_, *target_, *store_, log_, std::move(fl));
    auto r = flow.Run();
    if (r && r->phase == Phase::kUpdatedNeedReboot && r->staged_boot_id.empty()) {
      UpdateState s = *r;
      s.staged_boot_id = opt_.boot_id;
      if (auto p = store_->Save(s); !p) log_.Error(p.error().message());
      Publish(s);
    } else if (!r) {
      auto st = store_->Load();
      if (st) Publish(*st);
    }
    busy_ = false;
    ++generation_;
  });
  return {};
}

Status UpdateManager::StartCheck() {
  return StartFlow(true, std::nullopt);
}
Status UpdateManager::StartApply(std::optional<std::string> to) {
  return StartFlow(false, to);
}

Status UpdateManager::Cancel() {
  if (!busy_) return Fail(ErrorKind::kPolicy, "nothing to cancel: no update is running");
  cancel_ = true;
  return {};
}

Status UpdateManager::Rollback() {
  if (busy_) return Fail(ErrorKind::kPolicy, "an update is running; cancel it first");
  BASALT_RETURN_IF_ERROR(target_->boot().Rollback());
  UpdateState s = Get().state;
  s.wait_reason = "rollback requested: the other slot boots next; reboot to use it";
  BASALT_RETURN_IF_ERROR(Persist(s));
  return RefreshCurrent();
}

Status UpdateManager::MarkGood() {
  if (busy_) return Fail(ErrorKind::kPolicy, "an update is running");
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, target_->ActiveSlot());
  BASALT_RETURN_IF_ERROR(target_->boot().MarkGood(active));
  UpdateState s = Get().state;
  if (s.phase == Phase::kPendingHealth) {
    s.phase = Phase::kGood;
    s.wait_reason.clear();
    BASALT_RETURN_IF_ERROR(Persist(s));
    if (auto r = source_->Report(Facts(), UpdateEvent::kUpdatedAndRebooted, 0); !r) {
      log_.Warn("cannot report the update to the server: " + r.error().message());
    }
    ReleaseRebootLock(std::chrono::system_clock::now());
  }
  return {};
}

Status UpdateManager::AfterBoot() {
  if (opt_.disk) return {};
  UpdateState s = Get().state;
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, target_->ActiveSlot());
  switch (JudgeBoot(s, opt_.boot_id, boot::SlotName(active))) {
    case BootOutcome::kNothing:
      return {};
    case BootOutcome::kPendingHealth:
      // Also after a daemon restart or a reboot that used another try: the health timeout
      // counts from this start, so it is never left without a deadline.
      s.phase = Phase::kPendingHealth;
      s.booted_version = s.version;
      s.wait_reason =
          "waiting for boot-complete.target and its health checks before marking slot " +
          s.target_slot + " good";
      pending_since_ = std::chrono::system_clock::now();
      return Persist(s);
    case BootOutcome::kRolledBack:
      RecordRollback(s, boot::SlotName(active));
      BASALT_RETURN_IF_ERROR(Persist(s));
      log_.Warn(s.last_error, {{"VERSION", s.version}, {"SLOT", s.target_slot}});
      if (auto r = source_->Report(Facts(), UpdateEvent::kRolledBack, 0); !r) {
        log_.Warn("cannot report the rollback to the server: " + r.error().message());
      }
      ReleaseRebootLock(std::chrono::system_clock::now());
      return {};
  }
  return {};
}

void UpdateManager::Tick(std::chrono::system_clock::time_point now) {
  if (busy_) return;
  Snapshot snap = Get();
  const UpdateState& s = snap.state;
  if (release_pending_ && now >= next_release_try_ && s.phase != Phase::kUpdatedNeedReboot) {
    ReleaseRebootLock(now);
  }
  if (s.phase == Phase::kPendingHealth &&
      pending_since_ != std::chrono::system_clock::time_point{} &&
      now - pending_since_ > opt_.config.health_timeout && !reboot_requested_) {
    UpdateState t = s;
    t.last_error = fmt::format(
        "health checks did not pass within {}s; rebooting so the bootloader's tries run out and "
        "it falls back",
        opt_.config.health_timeout.count());
    (void)Persist(t);
    reboot_requested_ = true;
    if (opt_.reboot) (void)opt_.reboot();
    return;
  }
  if (s.phase == Phase::kUpdatedNeedReboot && !reboot_requested_) {
    if (now < next_gate_try_) return;
    auto gate = coordinator_->MayReboot(now);
    if (!gate) {
      // Never reboot without the lock: wait, and ask again after a growing pause.
      auto delay = lock_backoff_->Next();
      next_gate_try_ = now + delay;
      UpdateState t = s;
      t.wait_reason = fmt::format("{}; not rebooting, retrying in {} s", gate.error().message(),
                                  delay.count() / 1000);
      (void)Persist(t);
      return;
    }
    lock_backoff_->Reset();
    // A slot still waiting to be given back from the last update is this update's slot now
    // (MayReboot re-enters it): releasing it later would reboot without the lock.
    release_pending_ = false;
    if (gate->reboot_now && opt_.reboot && !opt_.disk) {
      reboot_requested_ = true;
      log_.Info(fmt::format("rebooting into version {}", s.version),
                {{"VERSION", s.version}, {"CHANNEL", opt_.config.channel}});
      if (auto r = opt_.reboot(); !r) {
        reboot_requested_ = false;
        log_.Error(r.error().message(), {{"ERROR", r.error().message()}});
      }
    } else if (gate->wait_reason != s.wait_reason) {
      UpdateState t = s;
      t.wait_reason = gate->wait_reason;
      (void)Persist(t);
    }
    return;
  }
  if (opt_.periodic_checks && now >= next_check_ && !InFlight(s.phase) &&
      s.phase != Phase::kPendingHealth && s.phase != Phase::kUpdatedNeedReboot) {
    next_check_ = now + Jittered(opt_.config.check_interval);
    (void)StartApply(std::nullopt);
  } else if (opt_.periodic_checks && InFlight(s.phase) && now >= next_check_) {
    // A flow interrupted by a crash or restart continues on its own.
    next_check_ = now + Jittered(opt_.config.check_interval);
    (void)StartApply(std::nullopt);
  }
}

}  // namespace basalt::update
