// UpdateManager over fakes (tests/fakes), without root, an ESP, a server or etcd: the health
// timeout, reboot gating per strategy, the after-boot steps (good and rolled back, with the
// reboot slot given back even when etcd fails), Cancel, and resuming from every persisted state.
// The real flow runs underneath; only the boot control, the slots, the source and the reboot
// coordinator are fakes. update_flow_test drives the same manager end to end over real disks.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "common/printable.h"
#include "daemon/fleet_wiring.h"
#include "daemon/reboot_strategies.h"
#include "daemon/update_manager.h"
#include "drip_server.h"
#include "fakes/fake_boot_control.h"
#include "fakes/fake_logger.h"
#include "fakes/fake_reboot_coordinator.h"
#include "fakes/fake_update_source.h"
#include "fakes/fake_update_target.h"
#include "test_util.h"

namespace basalt::update {
namespace {

using namespace std::chrono_literals;
using boot::Slot;
using fakes::FakeEntry;
using fakes::FakeRebootCoordinator;
using fakes::FakeUpdateSource;
using fakes::FakeUpdateTarget;
using fakes::RecordingLogger;
using Clock = std::chrono::system_clock;

// 2026-11-19 02:00 UTC, a Thursday.
const Clock::time_point kT0 = Clock::from_time_t(1795046400 + 2 * 3600);
const std::string kHashB(64, 'b');
constexpr char kStagingBoot[] = "boot-1";  // the boot in which 2.0.0 was staged
constexpr char kThisBoot[] = "boot-2";     // the boot the manager starts in

std::tm Utc(std::time_t t) {
  std::tm out{};
  gmtime_r(&t, &out);
  return out;
}

// 2.0.0 staged into slot B in the staging boot.
UpdateState Staged() {
  UpdateState s;
  s.phase = Phase::kUpdatedNeedReboot;
  s.version = "2.0.0";
  s.from_version = "1.0.0";
  s.target_slot = "B";
  s.usr_root_hash = kHashB;
  s.kernel_version = "6.1.0-test";
  s.payload = PlannedPayload{
      false, "", "file:///nonexistent-basalt-test/full.payload", 1000, std::string(64, 'c'), {}};
  s.staged_boot_id = kStagingBoot;
  return s;
}

class ManagerTest : public ::testing::Test {
 protected:
  ManagerTest() {
    NewHost(dir_ / "slots", dir_ / "state", 1 << 20);
    opt_.machine_id = "machine-1";
    opt_.boot_id = kThisBoot;
    opt_.config.channel = "stable";
    opt_.config.metrics_path = "";
    opt_.pcr_dir = dir_ / "pcr-sha256";  // absent unless a test writes PCR 11 there
    opt_.reboot = [this]() -> Status {
      reboots_while_held_.push_back(coordinator_ != nullptr && coordinator_->held());
      return reboot_result_;
    };
  }

  // A fresh host for the next Start: its disk in `slots`, its state in `state`, a new scripted
  // source and an etcd-lock coordinator.
  void NewHost(const std::string& slots, const std::string& state, uint64_t slot_size = 64 << 20) {
    owned_target_ = std::make_unique<FakeUpdateTarget>(slots, slot_size);
    target_ = owned_target_.get();
    owned_source_ = std::make_unique<FakeUpdateSource>();
    source_ = owned_source_.get();
    auto c = std::make_unique<FakeRebootCoordinator>("etcd-lock");
    coordinator_ = c.get();
    owned_coordinator_ = std::move(c);
    opt_.state_dir = state;
  }

  // What the staging boot left: B holds 2.0.0 and boots next with 3 tries; A (good) runs.
  void StageInB() {
    auto& b = target_->fake_boot();
    b.set_entry(Slot::kB, FakeEntry(Slot::kB, "2.0.0", kHashB));
    b.set_table(boot::ApplySetNext(b.table(), Slot::kB, 3).value());
  }
  // Power cycles until `slot` runs (at most 8): B runs on the first boot after staging; A once
  // B's tries are used up.
  void BootInto(Slot slot) {
    for (int i = 0; i < 8; ++i) {
      if (target_->Reboot() == slot) return;
    }
    FAIL() << "slot " << boot::SlotName(slot) << " never booted";
  }

  void UseCoordinator(std::unique_ptr<RebootCoordinator> c) {
    owned_coordinator_ = std::move(c);
    coordinator_ = nullptr;
  }

  std::unique_ptr<UpdateManager> Start(const std::optional<UpdateState>& persisted = {}) {
    if (persisted) {
      StateStore store(opt_.state_dir);
      EXPECT_TRUE(store.Load().has_value());
      EXPECT_TRUE(store.Save(*persisted).has_value());
    }
    ManagerParts p;
    p.trust = std::make_unique<HostTrust>(HostTrust::FromKeyring(Keyring(), 1));
    p.fetcher = http::MakeCurlFetcher(FetchOptionsFor(opt_.config));
    p.source = std::move(owned_source_);
    if (make_source_) p.source = make_source_(*p.fetcher, *p.trust);
    p.target = std::move(owned_target_);
    p.coordinator = std::move(owned_coordinator_);
    p.random01 = [] { return 0.5; };  // no jitter: backoff 5 s, 10 s, ...; checks every hour
    p.now = [this] { return now_; };
    auto m = UpdateManager::Create(opt_, std::move(p), log_);
    EXPECT_TRUE(m.has_value()) << m.error().message();
    return m ? std::move(*m) : nullptr;
  }

  // Waits for the worker (a periodic run, Apply or Check) to finish.
  static void WaitIdle(UpdateManager& m) {
    for (int i = 0; i < 4000 && m.Get().busy; ++i)
      std::this_thread::sleep_for(5ms);
    ASSERT_FALSE(m.Get().busy) << "the update flow did not finish";
  }

  UpdateState OnDisk() {
    auto s = StateStore(opt_.state_dir).Load();
    EXPECT_TRUE(s.has_value());
    return s ? *s : UpdateState{};
  }

  basalt::testing::TempDir dir_;
  // When set, Start builds the source over the manager's own fetcher and keyring (the real
  // repository source) instead of the scripted fake.
  std::function<std::unique_ptr<UpdateSource>(http::Fetcher&, HostTrust&)> make_source_;
  std::unique_ptr<FakeUpdateTarget> owned_target_;
  std::unique_ptr<FakeUpdateSource> owned_source_;
  std::unique_ptr<RebootCoordinator> owned_coordinator_;
  FakeUpdateTarget* target_;
  FakeUpdateSource* source_;
  FakeRebootCoordinator* coordinator_;  // nullptr once a real strategy is used
  ManagerOptions opt_;
  RecordingLogger log_;
  Clock::time_point now_ = kT0;
  Status reboot_result_;
  std::vector<bool> reboots_while_held_;  // one entry per reboot request
};

// --- health timeout ---------------------------------------------------------------------------

TEST_F(ManagerTest, HealthTimeoutRebootsOnceAndRecordsWhy) {
  StageInB();
  BootInto(Slot::kB);
  auto m = Start(Staged());
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->AfterBoot().has_value());
  ASSERT_EQ(m->Get().state.phase, Phase::kPendingHealth);
  EXPECT_EQ(OnDisk().phase, Phase::kPendingHealth);

  m->Tick(kT0 + opt_.config.health_timeout - 1s);
  EXPECT_TRUE(reboots_while_held_.empty()) << "rebooted before the timeout";
  m->Tick(kT0 + opt_.config.health_timeout + 1s);
  EXPECT_EQ(reboots_while_held_.size(), 1u);
  const std::string why = "health checks did not pass within 600s";
  EXPECT_NE(m->Get().state.last_error.find(why), std::string::npos) << m->Get().state.last_error;
  EXPECT_NE(OnDisk().last_error.find(why), std::string::npos) << OnDisk().last_error;
  EXPECT_EQ(OnDisk().phase, Phase::kPendingHealth) << "the next boot judges the outcome";
  for (auto later : {700s, 3600s, 86400s})
    m->Tick(kT0 + later);
  EXPECT_EQ(reboots_while_held_.size(), 1u) << "the timeout reboots once";
  EXPECT_TRUE(source_->checks().empty()) << "a pending host does not check";
  EXPECT_EQ(coordinator_->may_reboot_calls(), 0);
}

TEST_F(ManagerTest, HealthTimeoutRebootThatFailsIsLoggedAndNotRepeated) {
  StageInB();
  BootInto(Slot::kB);
  reboot_result_ = Fail(ErrorKind::kIo, "logind Reboot failed: Access denied");
  auto m = Start(Staged());
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->AfterBoot().has_value());
  m->Tick(kT0 + 601s);
  m->Tick(kT0 + 700s);
  EXPECT_EQ(reboots_while_held_.size(), 1u);
  EXPECT_TRUE(log_.Contains("cannot reboot after the health timeout: logind Reboot failed",
                            LogLevel::kError));
}

// --- reboot gating ----------------------------------------------------------------------------

struct GateCase {
  const char* name;
  std::function<std::unique_ptr<RebootCoordinator>()> make;
  std::vector<std::chrono::seconds> ticks;  // after kT0
  size_t reboots;
  const char* wait_reason;  // contained in the state's wait reason after the ticks
};

TEST_F(ManagerTest, RebootGatingPerStrategy) {
  const daemon::RebootWindow thu4{4, 4 * 60, 1h};  // Thu 04:00 for 1h; kT0 is Thu 02:00
  const GateCase cases[] = {
      {"off never reboots",
       [] { return NewOffCoordinator(); },
       {0s, 10s, 3600s, 86400s},
       0,
       "REBOOT_STRATEGY=off: the update is staged"},
      {"reboot reboots once", [] { return NewRebootNowCoordinator(); }, {0s, 1s, 2s, 3600s}, 1, ""},
      {"window waits with a reason",
       [&] { return NewWindowCoordinator(thu4, Utc); },
       {0s, 3600s},
       0,
       "outside the maintenance window Thu 04:00 for 1h; it opens in 1h"},
      {"window reboots once it opens",
       [&] { return NewWindowCoordinator(thu4, Utc); },
       {0s, 9000s, 9100s},
       1,
       "outside the maintenance window Thu 04:00 for 1h; it opens in 2h"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    // A fresh host per case: staged in this boot (a daemon restart would look the same).
    owned_target_ = std::make_unique<FakeUpdateTarget>(dir_ / c.name, 1 << 20);
    target_ = owned_target_.get();
    owned_source_ = std::make_unique<FakeUpdateSource>();
    source_ = owned_source_.get();
    opt_.state_dir = dir_ / (std::string(c.name) + "/state");
    reboots_while_held_.clear();
    UseCoordinator(c.make());
    StageInB();
    UpdateState s = Staged();
    s.staged_boot_id = kThisBoot;
    auto m = Start(s);
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->AfterBoot().has_value());
    EXPECT_EQ(m->Get().state.phase, Phase::kUpdatedNeedReboot);
    for (auto t : c.ticks)
      m->Tick(kT0 + t);
    EXPECT_EQ(reboots_while_held_.size(), c.reboots);
    const std::string reason = m->Get().state.wait_reason;
    if (*c.wait_reason == '\0') {
      EXPECT_EQ(reason, "");
    } else {
      EXPECT_NE(reason.find(c.wait_reason), std::string::npos) << reason;
      EXPECT_EQ(OnDisk().wait_reason, reason) << "the wait reason is persisted";
    }
    EXPECT_TRUE(source_->checks().empty()) << "a staged host does not check again";
  }
}

// etcd unreachable: no reboot, the wait reason says why and when it asks again, and the next
// ask waits for the backoff (5 s, then 10 s); the reboot comes only with the slot held.
TEST_F(ManagerTest, EtcdLockErrorBacksOffAndNeverRebootsWithoutTheGate) {
  const Error down(ErrorKind::kIo, "etcd reboot lock: connect 127.0.0.1:2379: Connection refused");
  coordinator_->QueueGate(std::unexpected(down));
  coordinator_->QueueGate(std::unexpected(down));
  coordinator_->QueueGate(RebootGate{true, ""});
  StageInB();
  UpdateState s = Staged();
  s.staged_boot_id = kThisBoot;
  auto m = Start(s);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->AfterBoot().has_value());

  m->Tick(kT0);
  EXPECT_EQ(coordinator_->may_reboot_calls(), 1);
  EXPECT_EQ(m->Get().state.wait_reason, down.message() + "; not rebooting, retrying in 5 s");
  EXPECT_EQ(OnDisk().wait_reason, m->Get().state.wait_reason);
  m->Tick(kT0 + 4s);
  EXPECT_EQ(coordinator_->may_reboot_calls(), 1) << "asked again before the backoff";
  m->Tick(kT0 + 5s);
  EXPECT_EQ(coordinator_->may_reboot_calls(), 2);
  EXPECT_EQ(m->Get().state.wait_reason, down.message() + "; not rebooting, retrying in 10 s");
  m->Tick(kT0 + 14s);
  EXPECT_EQ(coordinator_->may_reboot_calls(), 2);
  EXPECT_TRUE(reboots_while_held_.empty());
  m->Tick(kT0 + 15s);
  EXPECT_EQ(coordinator_->may_reboot_calls(), 3);
  ASSERT_EQ(reboots_while_held_, std::vector<bool>{true}) << "rebooted without the slot";
  m->Tick(kT0 + 16s);
  m->Tick(kT0 + 3600s);
  EXPECT_EQ(reboots_while_held_.size(), 1u);
  EXPECT_EQ(coordinator_->may_reboot_calls(), 3) << "asked again after deciding to reboot";
}

TEST_F(ManagerTest, EtcdLockThatNeverAnswersNeverReboots) {
  for (int i = 0; i < 100; ++i)
    coordinator_->QueueGate(Fail(ErrorKind::kIo, "etcd reboot lock: timed out"));
  StageInB();
  UpdateState s = Staged();
  s.staged_boot_id = kThisBoot;
  auto m = Start(s);
  ASSERT_TRUE(m);
  for (auto t = 0s; t < 6h; t += 10s)
    m->Tick(kT0 + t);
  EXPECT_TRUE(reboots_while_held_.empty());
  // 5, 10, 20, 40, 80, 160 s, then every 300 s (the cap): about 75 asks in 6 h, not 2160.
  EXPECT_GT(coordinator_->may_reboot_calls(), 60);
  EXPECT_LT(coordinator_->may_reboot_calls(), 90);
}

// A logind that refuses: logged, and asked again on the next tick (the gate still says yes).
TEST_F(ManagerTest, RebootRefusedByLogindIsLoggedAndTriedAgain) {
  UseCoordinator(NewRebootNowCoordinator());
  reboot_result_ = Fail(ErrorKind::kIo, "logind Reboot failed: Interactive authentication");
  StageInB();
  UpdateState s = Staged();
  s.staged_boot_id = kThisBoot;
  auto m = Start(s);
  ASSERT_TRUE(m);
  m->Tick(kT0);
  EXPECT_EQ(reboots_while_held_.size(), 1u);
  EXPECT_TRUE(log_.Contains("logind Reboot failed", LogLevel::kError));
  reboot_result_ = {};
  m->Tick(kT0 + 1s);
  m->Tick(kT0 + 2s);
  EXPECT_EQ(reboots_while_held_.size(), 2u);
}

// --- after boot -------------------------------------------------------------------------------

TEST_F(ManagerTest, AfterBootGoodMarksReportsAndReleases) {
  for (bool release_fails : {false, true}) {
    SCOPED_TRACE(release_fails ? "the first release fails" : "the release works");
    NewHost(dir_ / std::to_string(release_fails),
            dir_ / (std::to_string(release_fails) + "/state"));
    if (release_fails) coordinator_->QueueAfterBoot(Fail(ErrorKind::kIo, "etcd is down"));
    StageInB();
    BootInto(Slot::kB);
    auto m = Start(Staged());
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->AfterBoot().has_value());
    UpdateState pending = m->Get().state;
    EXPECT_EQ(pending.phase, Phase::kPendingHealth);
    EXPECT_EQ(pending.booted_version, "2.0.0");
    EXPECT_NE(pending.wait_reason.find("boot-complete.target"), std::string::npos);
    EXPECT_TRUE(source_->reports().empty()) << "nothing to report before the health checks";
    EXPECT_EQ(coordinator_->after_boot_calls(), 0) << "the slot is kept until the boot is good";

    ASSERT_TRUE(m->MarkGood().has_value());
    EXPECT_EQ(m->Get().state.phase, Phase::kGood);
    EXPECT_EQ(m->Get().state.wait_reason, "");
    EXPECT_EQ(OnDisk().phase, Phase::kGood);
    auto bs = target_->boot().GetStatus();
    ASSERT_TRUE(bs.has_value());
    EXPECT_EQ(bs->slots[1].health, boot::SlotHealth::kGood);
    auto reports = source_->reports();
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].event, UpdateEvent::kUpdatedAndRebooted);
    EXPECT_EQ(reports[0].host.current_version, "2.0.0");
    EXPECT_EQ(reports[0].host.machine_id, "machine-1");
    EXPECT_EQ(reports[0].host.boot_id, kThisBoot);
    EXPECT_EQ(coordinator_->after_boot_calls(), 1);
    if (release_fails) {
      EXPECT_TRUE(log_.Contains("cannot give back the reboot slot (etcd is down); retrying in 5 s",
                                LogLevel::kWarning));
      m->Tick(kT0 + 4s);
      EXPECT_EQ(coordinator_->after_boot_calls(), 1) << "retried before the backoff";
      m->Tick(kT0 + 5s);
      EXPECT_EQ(coordinator_->after_boot_calls(), 2);
    }
    m->Tick(kT0 + 30s);
    EXPECT_EQ(coordinator_->after_boot_calls(), release_fails ? 2 : 1) << "released twice";
    EXPECT_FALSE(coordinator_->held());
  }
}

TEST_F(ManagerTest, AfterBootRolledBackRecordsReportsReleasesAndSkipsTheRelease) {
  for (bool release_fails : {false, true}) {
    SCOPED_TRACE(release_fails ? "the first release fails" : "the release works");
    NewHost(dir_ / std::to_string(release_fails),
            dir_ / (std::to_string(release_fails) + "/state"));
    if (release_fails) coordinator_->QueueAfterBoot(Fail(ErrorKind::kIo, "etcd is down"));
    StageInB();
    BootInto(Slot::kA);  // B's tries ran out; the bootloader fell back
    auto m = Start(Staged());
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->AfterBoot().has_value());
    UpdateState s = m->Get().state;
    EXPECT_EQ(s.phase, Phase::kRolledBack);
    EXPECT_EQ(s.rolled_back_releases, std::set<std::string>{"2.0.0"});
    EXPECT_EQ(s.rollbacks, 1u);
    EXPECT_NE(s.last_error.find("fell back to slot A"), std::string::npos) << s.last_error;
    EXPECT_EQ(OnDisk(), s);
    EXPECT_TRUE(log_.Contains("did not come up healthy", LogLevel::kWarning));
    auto reports = source_->reports();
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].event, UpdateEvent::kRolledBack);
    EXPECT_EQ(reports[0].host.current_version, "1.0.0");
    EXPECT_EQ(coordinator_->after_boot_calls(), 1);
    if (release_fails) {
      m->Tick(kT0 + 4s);
      EXPECT_EQ(coordinator_->after_boot_calls(), 1);
      m->Tick(kT0 + 5s);
      EXPECT_EQ(coordinator_->after_boot_calls(), 2);
    }

    // The channel still offers 2.0.0: skipped, nothing downloaded or written.
    source_->QueueOffer(fakes::FullOffer("2.0.0", "file:///nonexistent-basalt-test/2.payload", 1000,
                                         std::string(64, 'd')));
    m->Tick(kT0 + 61s);
    WaitIdle(*m);
    EXPECT_EQ(source_->checks().size(), 1u);
    s = m->Get().state;
    EXPECT_EQ(s.phase, Phase::kIdle);
    EXPECT_NE(s.wait_reason.find("release 2.0.0 rolled back on this host"), std::string::npos)
        << s.wait_reason;
    EXPECT_TRUE(target_->opens().empty()) << "a skipped release wrote a slot";
    EXPECT_EQ(coordinator_->after_boot_calls(), release_fails ? 2 : 1);
  }
}

// The health unit blesses every boot; only a boot pending health moves the state. The staging
// boot's own MarkGood (A runs, B staged) must not turn the staged update into "good".
// --- measured boot ----------------------------------------------------------------------------

TEST_F(ManagerTest, MeasuredBootIsJudgedAtStartAgainstTheRunningSlotsPrediction) {
  const std::string predicted(64, 'a'), other(64, 'b');
  std::filesystem::create_directories(opt_.pcr_dir);
  StageInB();
  BootInto(Slot::kB);
  UpdateState s = Staged();
  s.pcr11_predictions["B"] = {.version = "2.0.0", .slot = "B", .pcr11 = {predicted}};
  // The kernel prints PCRs in upper case.
  basalt::testing::WriteFile(opt_.pcr_dir + "/11", std::string(64, 'A') + "\n");
  auto m = Start(s);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->AfterBoot().has_value());
  EXPECT_EQ(m->Get().state.measured_boot.code, "as-predicted");
  EXPECT_EQ(OnDisk().measured_boot.pcr11, predicted);
  EXPECT_TRUE(log_.Contains("measured boot: PCR 11 is as release 2.0.0 (slot B) predicts",
                            LogLevel::kInfo));

  // The next start, in a boot whose PCR 11 nobody predicted: said at error priority.
  basalt::testing::WriteFile(opt_.pcr_dir + "/11", other + "\n");
  m.reset();
  owned_target_ = std::make_unique<FakeUpdateTarget>(dir_ / "slots", 1 << 20);
  target_ = owned_target_.get();
  StageInB();
  BootInto(Slot::kB);
  owned_source_ = std::make_unique<FakeUpdateSource>();
  owned_coordinator_ = std::make_unique<FakeRebootCoordinator>("etcd-lock");
  m = Start();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->AfterBoot().has_value());
  EXPECT_EQ(m->Get().state.measured_boot.code, "differs");
  EXPECT_EQ(OnDisk().measured_boot.code, "differs");
  EXPECT_TRUE(log_.Contains("measured boot: PCR 11 is " + other, LogLevel::kError));
}

TEST_F(ManagerTest, MeasuredBootWithoutATpmOrAPredictionSaysSo) {
  auto m = Start();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->AfterBoot().has_value());
  EXPECT_EQ(m->Get().state.measured_boot.code, "no-tpm");
  std::filesystem::create_directories(opt_.pcr_dir);
  basalt::testing::WriteFile(opt_.pcr_dir + "/11", std::string(64, 'c'));
  m.reset();
  NewHost(dir_ / "slots2", dir_ / "state2", 1 << 20);
  m = Start();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->AfterBoot().has_value());
  EXPECT_EQ(m->Get().state.measured_boot.code, "no-prediction");
  EXPECT_FALSE(log_.Contains("measured boot", LogLevel::kError));
}

TEST_F(ManagerTest, MarkGoodOutsidePendingHealthOnlyBlessesTheRunningSlot) {
  StageInB();
  UpdateState s = Staged();
  s.staged_boot_id = kThisBoot;
  auto m = Start(s);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->AfterBoot().has_value());
  ASSERT_TRUE(m->MarkGood().has_value());
  EXPECT_EQ(target_->fake_boot().changes(), std::vector<std::string>{"MarkGood A"});
  EXPECT_EQ(m->Get().state.phase, Phase::kUpdatedNeedReboot);
  EXPECT_EQ(OnDisk().phase, Phase::kUpdatedNeedReboot);
  EXPECT_TRUE(source_->reports().empty());
  EXPECT_EQ(coordinator_->after_boot_calls(), 0);
}

TEST_F(ManagerTest, MarkGoodThatTheBootloaderRefusesChangesNothing) {
  StageInB();
  BootInto(Slot::kB);
  target_->fake_boot().FailNext("MarkGood", Error(ErrorKind::kIo, "write grubenv: EROFS"));
  auto m = Start(Staged());
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->AfterBoot().has_value());
  auto r = m->MarkGood();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("EROFS"), std::string::npos);
  EXPECT_EQ(OnDisk().phase, Phase::kPendingHealth);
  EXPECT_TRUE(source_->reports().empty());
  EXPECT_EQ(coordinator_->after_boot_calls(), 0);
}

// A report the server does not take never undoes the step; it is logged.
TEST_F(ManagerTest, FailedReportIsLoggedAndTheStepStands) {
  StageInB();
  BootInto(Slot::kB);
  source_->FailNextReport(Error(ErrorKind::kIo, "POST http://omaha/v1/update/: HTTP 502"));
  auto m = Start(Staged());
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->AfterBoot().has_value());
  ASSERT_TRUE(m->MarkGood().has_value());
  EXPECT_EQ(OnDisk().phase, Phase::kGood);
  EXPECT_EQ(coordinator_->after_boot_calls(), 1);
  EXPECT_TRUE(log_.Contains("cannot report the update to the server: POST", LogLevel::kWarning));
}

// --- cancel -----------------------------------------------------------------------------------

TEST_F(ManagerTest, CancelStopsTheRunningUpdateAndIsRefusedWhenNothingRuns) {
  std::atomic<bool> in_check{false}, go{false};
  source_->set_on_check([&] {
    in_check = true;
    for (int i = 0; i < 2000 && !go; ++i)
      std::this_thread::sleep_for(5ms);
  });
  source_->QueueOffer(fakes::FullOffer("2.0.0", "file:///nonexistent-basalt-test/2.payload", 1000,
                                       std::string(64, 'd')));
  auto m = Start();
  ASSERT_TRUE(m);
  auto idle = m->Cancel();
  ASSERT_FALSE(idle.has_value());
  EXPECT_EQ(idle.error().kind(), ErrorKind::kPolicy);
  EXPECT_NE(idle.error().message().find("nothing to cancel"), std::string::npos);

  ASSERT_TRUE(m->StartApply(std::nullopt).has_value());
  for (int i = 0; i < 2000 && !in_check; ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(in_check);
  EXPECT_TRUE(m->Get().busy);
  auto again = m->StartApply(std::nullopt);
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().message().find("already running"), std::string::npos);
  EXPECT_FALSE(m->MarkGood().has_value()) << "MarkGood while an update runs";
  EXPECT_FALSE(m->Rollback().has_value()) << "Rollback while an update runs";
  EXPECT_TRUE(m->Cancel().has_value());
  go = true;
  WaitIdle(*m);

  UpdateState s = m->Get().state;
  EXPECT_EQ(s.phase, Phase::kIdle);
  EXPECT_EQ(s.last_error, "cancelled");
  EXPECT_EQ(s.failures, (std::map<std::string, uint64_t>{{"cancelled", 1}}));
  EXPECT_FALSE(s.payload.has_value()) << "a cancelled plan is dropped";
  EXPECT_EQ(OnDisk(), s);
  EXPECT_TRUE(target_->opens().empty()) << "a slot was opened after Cancel";
  EXPECT_TRUE(target_->fake_boot().changes().empty());
  EXPECT_EQ(source_->events(),
            (std::vector<UpdateEvent>{UpdateEvent::kDownloadStarted, UpdateEvent::kFailed}));
}

// --- hostile input and exceptions on the worker thread ----------------------------------------

// Issue 18 (2): an unsigned channel file whose payloadType has a two-byte character across byte
// 80, or invalid UTF-8, once made the error text invalid UTF-8; saving the state threw on the
// worker thread and the daemon died before recording anything. The real repository source
// reads the file here; the daemon must record a precise error and go on serving (MarkGood).
TEST_F(ManagerTest, HostileChannelFileIsRecordedAndTheDaemonKeepsServing) {
  const std::string split_char = std::string(79, 'a') + "\xc3\xa9" + std::string(20, 'b');
  const std::string invalid = std::string(40, 'a') + "\xff\xfe\xc3" + std::string(60, 'c');
  for (const std::string& type : {split_char, invalid}) {
    SCOPED_TRACE(type == split_char ? "character across byte 80" : "invalid UTF-8");
    basalt::testing::TempDir repo;
    std::filesystem::create_directories(repo / "channels");
    basalt::testing::WriteFile(
        repo / "channels/stable.json",
        "{\"payloadType\": \"" + type + "\", \"payload\": \"\", \"signatures\": []}");
    daemon::UpdateConfig cfg;
    cfg.server = repo / "";
    make_source_ = [cfg](http::Fetcher& f, HostTrust& k) {
      return std::move(MakeUpdateSource(cfg, f, k).value());
    };
    opt_.state_dir = repo / "state";
    owned_target_ = std::make_unique<FakeUpdateTarget>(repo / "slots", 1 << 20);
    target_ = owned_target_.get();
    auto c = std::make_unique<FakeRebootCoordinator>("etcd-lock");
    coordinator_ = c.get();
    owned_coordinator_ = std::move(c);
    auto m = Start();
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->StartCheck().has_value());
    WaitIdle(*m);
    UpdateState s = OnDisk();
    EXPECT_EQ(s.phase, Phase::kIdle);
    EXPECT_TRUE(IsValidUtf8(s.last_error)) << s.last_error;
    const std::string why = type == split_char ? "envelope payloadType is" : "not valid JSON";
    EXPECT_NE(s.last_error.find(why), std::string::npos) << s.last_error;
    EXPECT_EQ(m->Get().state.last_error, s.last_error);
    // The daemon still serves: the health unit's MarkGood blesses the running slot.
    ASSERT_TRUE(m->MarkGood().has_value());
    EXPECT_EQ(target_->fake_boot().changes(), std::vector<std::string>{"MarkGood A"});
  }
}

// Whatever throws inside a run (a library, the allocator) is recorded, not fatal.
TEST_F(ManagerTest, ExceptionInTheFlowIsRecordedAndTheDaemonKeepsServing) {
  source_->set_on_check([] { throw std::runtime_error("boom \xff from a library"); });
  auto m = Start();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->StartCheck().has_value());
  WaitIdle(*m);
  UpdateState s = OnDisk();
  EXPECT_EQ(s.phase, Phase::kIdle);
  EXPECT_EQ(s.last_error,
            "internal error: the update run stopped with an exception: boom \\xff from a library");
  EXPECT_EQ(s.failures, (std::map<std::string, uint64_t>{{"internal", 1}}));
  EXPECT_EQ(m->Get().state.last_error, s.last_error);
  EXPECT_FALSE(m->Get().busy);
  ASSERT_TRUE(m->StartCheck().has_value()) << "a new run may start";
  WaitIdle(*m);
  ASSERT_TRUE(m->MarkGood().has_value());
}

// --- slow mirrors and cancel during a transfer (issue 18, item 4) -------------------------------

// A mirror that sends 2 bytes a second. Before the floor, a 1 MiB payload held the run for days.
TEST_F(ManagerTest, DrippingPayloadEndsTheRunBelowTheThroughputFloor) {
  basalt::testing::DripServer server(std::string(1 << 20, 'p'));
  opt_.config.download_min_rate_kib = 1;
  opt_.config.download_min_rate_window = 2s;
  source_->QueueOffer(
      fakes::FullOffer("2.0.0", server.Url("/full.payload"), 1 << 20, std::string(64, 'd')));
  auto m = Start();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->StartApply(std::nullopt).has_value());
  WaitIdle(*m);
  UpdateState s = OnDisk();
  EXPECT_NE(s.last_error.find("/full.payload: transfer too slow: "), std::string::npos)
      << s.last_error;
  EXPECT_NE(s.last_error.find("below the floor of 1024 bytes/s"), std::string::npos)
      << s.last_error;
  EXPECT_EQ(s.phase, Phase::kDownloading) << "the plan is kept; the next check resumes it";
  EXPECT_EQ(s.failures, (std::map<std::string, uint64_t>{{"download", 1}}));
  EXPECT_EQ(server.requests(), 1) << "not retried at once: that would drip forever";
  EXPECT_TRUE(target_->opens().empty());
}

// The channel file of the real repository source drips: the check ends at METADATA_TIMEOUT.
TEST_F(ManagerTest, DrippingChannelEndsTheCheckAtTheMetadataDeadline) {
  basalt::testing::DripServer server(std::string(4096, ' '));
  opt_.config.metadata_timeout = 2s;
  daemon::UpdateConfig cfg;
  cfg.server = server.Url("");
  make_source_ = [cfg](http::Fetcher& f, HostTrust& k) {
    return std::move(MakeUpdateSource(cfg, f, k).value());
  };
  auto m = Start();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->StartCheck().has_value());
  WaitIdle(*m);
  UpdateState s = OnDisk();
  EXPECT_EQ(s.phase, Phase::kIdle);
  EXPECT_NE(s.last_error.find("/channels/stable.json: no complete answer within the metadata "
                              "deadline of 2 s (METADATA_TIMEOUT)"),
            std::string::npos)
      << s.last_error;
}

// Cancel acts inside a transfer, not only between phases: the run ends as a cancel between
// phases does.
TEST_F(ManagerTest, CancelInterruptsADownloadInProgress) {
  basalt::testing::DripServer server(std::string(1 << 20, 'p'));
  opt_.config.download_min_rate_kib = 0;  // no floor: only Cancel can end this transfer
  source_->QueueOffer(
      fakes::FullOffer("2.0.0", server.Url("/full.payload"), 1 << 20, std::string(64, 'd')));
  auto m = Start();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->StartApply(std::nullopt).has_value());
  ASSERT_TRUE(server.WaitForBytes(2)) << "the download never started";
  EXPECT_EQ(m->Get().state.phase, Phase::kDownloading);
  ASSERT_TRUE(m->Cancel().has_value());
  WaitIdle(*m);  // bounded at 20 s; the transfer alone would take six days
  UpdateState s = OnDisk();
  EXPECT_EQ(s.phase, Phase::kIdle);
  EXPECT_EQ(s.last_error, "cancelled");
  EXPECT_EQ(s.failures, (std::map<std::string, uint64_t>{{"cancelled", 1}}));
  EXPECT_FALSE(s.payload.has_value());
  EXPECT_EQ(server.requests(), 1);
}

// Issue 18 (7): credentials in SERVER and token-like query values never reach LastError or the
// journal.
TEST_F(ManagerTest, ServerCredentialsAreRedactedFromLastErrorAndTheJournal) {
  daemon::UpdateConfig cfg;
  cfg.server = "http://admin:hunter2@127.0.0.1:1/repo";  // port 1: connection refused
  make_source_ = [cfg](http::Fetcher& f, HostTrust& k) {
    return std::move(MakeUpdateSource(cfg, f, k).value());
  };
  auto m = Start();
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->StartCheck().has_value());
  WaitIdle(*m);
  const std::string e = OnDisk().last_error;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  EXPECT_NE(e.find("http://***@127.0.0.1:1/repo"), std::string::npos) << e;
  EXPECT_EQ(m->Get().state.last_error, e);
  for (const auto& line : log_.lines())
    EXPECT_EQ(line.message.find("hunter2"), std::string::npos) << line.message;
}

// --- resume -----------------------------------------------------------------------------------

struct ResumeCase {
  Phase phase;
  const char* staged_boot;  // the state's staged_boot_id
  bool staged;              // B holds 2.0.0 and boots next (the flow got past its commit point)
  int boots;                // 0: the staging boot (A runs); 1: B runs; 4: B's tries ran out
  bool b_good;              // B was marked good (a finished update)
  // After AfterBoot() and one due Tick (and the run it starts):
  Phase after;
  size_t checks;  // the source was asked
  int gates;      // MayReboot calls
  int releases;   // AfterBoot calls of the coordinator
  std::vector<std::string> boot_changes;
  std::vector<UpdateEvent> events;
};

// The manager started over each persisted phase (a crash or restart at any point) does what that
// phase needs and nothing else: in-flight runs resume where they stopped without asking the
// source again, a staged update waits for the gate, a booted one is judged, a settled one gives
// the reboot slot back and checks. Slot A, which runs, is never written.
TEST_F(ManagerTest, ResumesFromEveryPersistedState) {
  using P = Phase;
  using E = UpdateEvent;
  const ResumeCase cases[] = {
      {P::kIdle, "", false, 0, false, P::kIdle, 1, 0, 0, {}, {}},
      {P::kChecking, "", false, 0, false, P::kIdle, 1, 0, 0, {}, {}},
      // The planned payload is not there (file://, not found): the run fails without a check.
      {P::kDownloading, "", false, 0, false, P::kIdle, 0, 0, 0, {}, {E::kFailed}},
      // The downloaded payload is gone (not found): Apply stops at the signature check, before
      // the boot state is touched; the plan is dropped, and the next check starts over.
      {P::kApplying, "", false, 0, false, P::kIdle, 0, 0, 0, {}, {E::kFailed}},
      {P::kVerifying, "", false, 0, false, P::kIdle, 0, 0, 0, {}, {E::kFailed}},
      // Killed right after the commit point (SetNext): finalize finds its work done.
      {P::kFinalizing, "", true, 0, false, P::kUpdatedNeedReboot, 0, 0, 0, {}, {}},
      // Staged in this boot: a daemon restart; the gate is asked, nothing else.
      {P::kUpdatedNeedReboot, kThisBoot, true, 0, false, P::kUpdatedNeedReboot, 0, 1, 0, {}, {}},
      // Rebooted into B: pending health; no check, no gate.
      {P::kUpdatedNeedReboot, kStagingBoot, true, 1, false, P::kPendingHealth, 0, 0, 0, {}, {}},
      // Rebooted, but A came back: a rollback, the slot given back, then a normal check.
      {P::kUpdatedNeedReboot,
       kStagingBoot,
       true,
       4,
       false,
       P::kIdle,
       1,
       0,
       1,
       {},
       {E::kRolledBack}},
      {P::kPendingHealth, kStagingBoot, true, 1, false, P::kPendingHealth, 0, 0, 0, {}, {}},
      {P::kPendingHealth, kStagingBoot, true, 4, false, P::kIdle, 1, 0, 1, {}, {E::kRolledBack}},
      // Settled: the slot is given back (again; idempotent) and the host checks.
      {P::kGood, kStagingBoot, true, 1, true, P::kIdle, 1, 0, 1, {}, {}},
      {P::kRolledBack, kStagingBoot, true, 4, false, P::kIdle, 1, 0, 1, {}, {}},
  };
  int n = 0;
  for (const auto& c : cases) {
    const std::string name = fmt::format("{}-{}-{}", PhaseName(c.phase),
                                         *c.staged_boot ? c.staged_boot : "none", c.boots);
    SCOPED_TRACE(name);
    const std::string dir = dir_ / std::to_string(n++);
    NewHost(dir, dir + "/state", 1 << 20);

    UpdateState s = Staged();
    s.phase = c.phase;
    s.staged_boot_id = c.staged_boot;
    if (c.phase == P::kIdle || c.phase == P::kChecking) {
      s = UpdateState{};
      s.phase = c.phase;
    }
    if (c.phase == P::kRolledBack) RecordRollback(s, "A");
    if (c.staged) StageInB();
    if (c.boots > 0) BootInto(c.boots == 1 ? Slot::kB : Slot::kA);
    if (c.b_good) {
      auto& b = target_->fake_boot();
      b.set_table(boot::ApplyMarkGood(b.table(), Slot::kB).value());
    }

    auto m = Start(s);
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->AfterBoot().has_value());
    m->Tick(kT0 + 61s);  // the first periodic check is due after a minute
    WaitIdle(*m);

    UpdateState got = m->Get().state;
    EXPECT_EQ(PhaseName(got.phase), PhaseName(c.after)) << got.last_error;
    EXPECT_EQ(OnDisk().phase, got.phase);
    EXPECT_EQ(source_->checks().size(), c.checks);
    EXPECT_EQ(coordinator_->may_reboot_calls(), c.gates);
    EXPECT_EQ(coordinator_->after_boot_calls(), c.releases);
    EXPECT_EQ(target_->fake_boot().changes(), c.boot_changes);
    EXPECT_EQ(source_->events(), c.events);
    for (const auto& open : target_->opens())
      EXPECT_NE(open, "OpenSlot A rw") << "the running slot was opened for writing";
    EXPECT_TRUE(reboots_while_held_.empty());
  }
}

// Each channel keeps its own replay record: a host moved from beta (metadata version 120) to
// stable (version 7) is not refused as a replay, and back on beta it is held to 120 again.
TEST_F(ManagerTest, ChannelsKeepTheirOwnReplayRecords) {
  struct Step {
    const char* channel;
    uint64_t answered_version;
    char digest;
    std::optional<uint64_t> told_version;
    std::string told_sha256;
  };
  const Step steps[] = {
      {"beta", 120, 'b', std::nullopt, ""},
      {"stable", 7, 'c', std::nullopt, ""},
      {"beta", 121, 'd', 120, std::string(64, 'b')},
      {"stable", 7, 'c', 7, std::string(64, 'c')},
  };
  int n = 0;
  for (const Step& step : steps) {
    SCOPED_TRACE(step.channel + std::to_string(n));
    // A new disk each time, the same state directory: the records must carry over.
    NewHost(dir_ / ("slots" + std::to_string(n++)), dir_ / "state", 1 << 20);
    opt_.config.channel = step.channel;
    UpdateOffer wait;
    wait.code = "up-to-date";
    wait.reason = "up to date";
    wait.metadata_version = step.answered_version;
    wait.metadata_sha256 = std::string(64, step.digest);
    source_->QueueOffer(wait);
    auto m = Start();
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->StartCheck().has_value());
    WaitIdle(*m);
    ASSERT_EQ(source_->checks().size(), 1u);
    EXPECT_EQ(source_->checks()[0].channel, step.channel);
    EXPECT_EQ(source_->checks()[0].last_metadata_version, step.told_version);
    EXPECT_EQ(source_->checks()[0].last_metadata_sha256, step.told_sha256);
    EXPECT_TRUE(m->Get().state.last_error.empty()) << m->Get().state.last_error;
  }
  const auto seen = OnDisk().seen_channels;
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen.at("beta").metadata_version, 121u);
  EXPECT_EQ(seen.at("stable").metadata_version, 7u);
}

}  // namespace
}  // namespace basalt::update
