// The after-boot steps and the reboot slot on their own, as `basalt update after-boot` and the
// offline reboot step drive them (the daemon's use is in daemon_manager_test): judge, mark good,
// record a rollback, report, and give the reboot slot back with backoff.
#include <gtest/gtest.h>

#include <thread>

#include "daemon/after_boot.h"
#include "daemon/reboot_slot.h"
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
using fakes::FakeRebootCoordinator;
using fakes::FakeUpdateSource;
using fakes::FakeUpdateTarget;
using fakes::RecordingLogger;

const std::chrono::system_clock::time_point kT0 =
    std::chrono::system_clock::from_time_t(1795046400);

// The offline commands' policy (update_cli.cc): 200 ms doubling to 5 s, no jitter.
Backoff CliBackoff() {
  RetryPolicy p;
  p.initial = 200ms;
  p.cap = 5s;
  return Backoff(p, [] { return 0.5; });
}

TEST(RebootSlotTest, AnErrorBacksOffAndSaysSoAnAnswerResetsTheBackoff) {
  FakeRebootCoordinator c;
  RecordingLogger log;
  RebootSlot slot(c, CliBackoff(), log);
  c.QueueGate(Fail(ErrorKind::kIo, "etcd reboot lock: connection refused"));
  c.QueueGate(Fail(ErrorKind::kIo, "etcd reboot lock: connection refused"));
  RebootDecision d = slot.Ask(kT0);
  EXPECT_FALSE(d.reboot_now);
  ASSERT_TRUE(d.error.has_value());
  EXPECT_EQ(d.wait_reason, "etcd reboot lock: connection refused; not rebooting, retrying");
  EXPECT_EQ(d.retry_in, 200ms);
  EXPECT_EQ(slot.next_ask(), kT0 + 200ms);
  EXPECT_EQ(slot.Ask(kT0 + 1s).retry_in, 400ms);
  d = slot.Ask(kT0 + 2s);  // the default gate: a wait
  EXPECT_FALSE(d.error.has_value());
  EXPECT_EQ(d.wait_reason, "fake: not yet");
  c.QueueGate(Fail(ErrorKind::kIo, "etcd reboot lock: connection refused"));
  EXPECT_EQ(slot.Ask(kT0 + 3s).retry_in, 200ms) << "an answer starts the backoff over";
}

// The slot still to be given back from the last update is this update's slot once MayReboot
// re-entered it: a late release would let the host reboot without it.
TEST(RebootSlotTest, AnAnswerEndsAPendingRelease) {
  FakeRebootCoordinator c;
  RecordingLogger log;
  RebootSlot slot(c, CliBackoff(), log);
  slot.set_release_pending();
  EXPECT_TRUE(slot.release_pending());
  c.QueueGate(RebootGate{true, ""});
  EXPECT_TRUE(slot.Ask(kT0).reboot_now);
  EXPECT_FALSE(slot.release_pending());
  EXPECT_TRUE(c.held());
}

TEST(RebootSlotTest, ReleaseWithinRetriesWithBackoffUntilTheSlotIsBack) {
  FakeRebootCoordinator c;
  RecordingLogger log;
  RebootSlot slot(c, CliBackoff(), log);
  c.QueueAfterBoot(Fail(ErrorKind::kIo, "etcd is down"));
  c.QueueAfterBoot(Fail(ErrorKind::kIo, "etcd is down"));
  std::vector<std::chrono::milliseconds> slept;
  auto r = slot.ReleaseWithin(0s, [&](std::chrono::milliseconds d) { slept.push_back(d); });
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(c.after_boot_calls(), 3);
  EXPECT_EQ(slept, (std::vector<std::chrono::milliseconds>{200ms, 400ms}));
  EXPECT_FALSE(slot.release_pending());
  EXPECT_TRUE(log.Contains("cannot give back the reboot slot (etcd is down); retrying in 200 ms",
                           LogLevel::kWarning));
}

TEST(RebootSlotTest, ReleaseWithinGivesUpWithTheLastErrorAtTheDeadline) {
  FakeRebootCoordinator c;
  RecordingLogger log;
  RebootSlot slot(c, CliBackoff(), log);
  for (int i = 0; i < 50; ++i)
    c.QueueAfterBoot(Fail(ErrorKind::kIo, "etcd is down"));
  std::chrono::milliseconds total{0};
  // Real sleeps of 200 and 400 ms; the next one (800 ms) would end past the 1 s deadline.
  auto r = slot.ReleaseWithin(1s, [&](std::chrono::milliseconds d) {
    total += d;
    std::this_thread::sleep_for(d);
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "etcd is down");
  EXPECT_LE(total, 1s);
  EXPECT_TRUE(slot.release_pending());
}

class AfterBootTest : public ::testing::Test {
 protected:
  AfterBootTest()
      : target_(dir_ / "slots", 1 << 20),
        slot_(coordinator_, CliBackoff(), log_),
        steps_(AfterBootParts{
            .target = target_,
            .source = &source_,
            .reboot_slot = slot_,
            .log = log_,
            .persist = [this](const UpdateState& s) -> Status {
              persisted_.push_back(s);
              return persist_result_;
            },
            .facts =
                [this] {
                  HostFacts h;
                  h.current_version = current_;
                  h.machine_id = "machine-1";
                  return h;
                },
            .now = [] { return kT0; },
        }) {
    auto& b = target_.fake_boot();
    b.set_entry(Slot::kB, fakes::FakeEntry(Slot::kB, "2.0.0"));
    b.set_table(boot::ApplySetNext(b.table(), Slot::kB, 3).value());
  }

  static UpdateState Staged() {
    UpdateState s;
    s.phase = Phase::kUpdatedNeedReboot;
    s.version = "2.0.0";
    s.from_version = "1.0.0";
    s.target_slot = "B";
    s.staged_boot_id = "boot-1";
    s.wait_reason = "etcd reboot lock group g is full";
    return s;
  }

  basalt::testing::TempDir dir_;
  FakeUpdateTarget target_;
  FakeUpdateSource source_;
  FakeRebootCoordinator coordinator_;
  RecordingLogger log_;
  RebootSlot slot_;
  std::vector<UpdateState> persisted_;
  Status persist_result_;
  std::string current_ = "1.0.0";
  AfterBootSteps steps_;
};

// `basalt update after-boot`: the image booted B and it passed its checks.
TEST_F(AfterBootTest, OfflineGoodBootIsOneSaveOneReportOneRelease) {
  UpdateState s = Staged();
  BeginPendingHealth(s);
  current_ = "2.0.0";
  ASSERT_TRUE(steps_.MarkGood(s, Slot::kB).has_value());
  EXPECT_EQ(s.phase, Phase::kGood);
  EXPECT_EQ(s.booted_version, "2.0.0");
  EXPECT_EQ(s.wait_reason, "");
  ASSERT_EQ(persisted_.size(), 1u) << "the pending step is not persisted offline";
  EXPECT_EQ(persisted_[0], s);
  EXPECT_EQ(target_.fake_boot().changes(), std::vector<std::string>{"MarkGood B"});
  ASSERT_EQ(source_.reports().size(), 1u);
  EXPECT_EQ(source_.reports()[0].event, UpdateEvent::kUpdatedAndRebooted);
  EXPECT_EQ(source_.reports()[0].host.current_version, "2.0.0");
  EXPECT_EQ(coordinator_.after_boot_calls(), 1);
  EXPECT_FALSE(slot_.release_pending());
}

TEST_F(AfterBootTest, RollbackIsRecordedReportedAndReleased) {
  UpdateState s = Staged();
  ASSERT_TRUE(steps_.RolledBack(s, Slot::kA).has_value());
  EXPECT_EQ(s.phase, Phase::kRolledBack);
  EXPECT_EQ(s.rollbacks, 1u);
  EXPECT_TRUE(s.rolled_back_releases.contains("2.0.0"));
  EXPECT_EQ(s.wait_reason, "");
  ASSERT_EQ(persisted_.size(), 1u);
  EXPECT_EQ(persisted_[0], s);
  EXPECT_EQ(source_.events(), std::vector<UpdateEvent>{UpdateEvent::kRolledBack});
  EXPECT_EQ(source_.reports()[0].host.current_version, "1.0.0");
  EXPECT_EQ(coordinator_.after_boot_calls(), 1);
  EXPECT_TRUE(target_.fake_boot().changes().empty()) << "the bootloader already fell back";
}

// A state that cannot be saved stops the step before anyone is told or the slot goes back: the
// next start judges the boot again.
TEST_F(AfterBootTest, NothingIsReportedOrReleasedWhenTheStateCannotBeSaved) {
  persist_result_ = Fail(ErrorKind::kIo, "write state.json: No space left on device");
  UpdateState s = Staged();
  BeginPendingHealth(s);
  EXPECT_FALSE(steps_.MarkGood(s, Slot::kB).has_value());
  UpdateState r = Staged();
  EXPECT_FALSE(steps_.RolledBack(r, Slot::kA).has_value());
  EXPECT_TRUE(source_.reports().empty());
  EXPECT_EQ(coordinator_.after_boot_calls(), 0);
}

TEST_F(AfterBootTest, JudgeMovesOnlyAStagedOrPendingUpdate) {
  struct Case {
    Phase phase;
    const char* boot_id;
    Slot active;
    BootOutcome outcome;
    Phase after;
  } cases[] = {
      {Phase::kUpdatedNeedReboot, "boot-1", Slot::kA, BootOutcome::kNothing,
       Phase::kUpdatedNeedReboot},
      {Phase::kUpdatedNeedReboot, "boot-2", Slot::kB, BootOutcome::kPendingHealth,
       Phase::kPendingHealth},
      {Phase::kUpdatedNeedReboot, "boot-2", Slot::kA, BootOutcome::kRolledBack, Phase::kRolledBack},
      {Phase::kPendingHealth, "boot-3", Slot::kB, BootOutcome::kPendingHealth,
       Phase::kPendingHealth},
      {Phase::kPendingHealth, "boot-3", Slot::kA, BootOutcome::kRolledBack, Phase::kRolledBack},
      {Phase::kGood, "boot-3", Slot::kB, BootOutcome::kNothing, Phase::kGood},
      {Phase::kIdle, "boot-3", Slot::kA, BootOutcome::kNothing, Phase::kIdle},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(fmt::format("{} in {} running {}", PhaseName(c.phase), c.boot_id,
                             boot::SlotName(c.active)));
    persisted_.clear();
    UpdateState s = Staged();
    s.phase = c.phase;
    auto o = steps_.Judge(s, c.boot_id, c.active);
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(*o, c.outcome);
    EXPECT_EQ(s.phase, c.after);
    EXPECT_EQ(persisted_.size(), c.outcome == BootOutcome::kNothing ? 0u : 1u);
    if (c.after == Phase::kPendingHealth) {
      EXPECT_EQ(s.booted_version, "2.0.0");
      EXPECT_NE(s.wait_reason.find("before marking slot B good"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace basalt::update
