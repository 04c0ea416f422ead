// Unit tests of the update flow's pieces: the state file, backoff, mdir parsing.
#include <gtest/gtest.h>

#include <filesystem>

#include "daemon/backoff.h"
#include "daemon/boot_outcome.h"
#include "daemon/fleet_wiring.h"
#include "daemon/reboot_strategies.h"
#include "daemon/slot_files.h"
#include "daemon/state_store.h"
#include "daemon/update_flow.h"
#include "daemon/update_target.h"
#include "http/fetcher.h"
#include "kernel_args.h"
#include "repo/release.h"
#include "repo/root.h"
#include "repo_test_util.h"

namespace basalt::update {
namespace {

TEST(KernelArgsTest, KeepsTheImageArgumentsAndDropsWhatEachEntrySetsItself) {
  auto c = CarriedOverKernelArgs(
      "BOOT_IMAGE=/basalt/A/vmlinuz basalt.usr=PARTUUID=7130c94a-213a-4e5a-8e26-6cce9662f132 "
      "basalt.usrhash=ab12 basalt.slot=A console=ttyS0,115200n8  systemd.show_status=1 quiet "
      "console=tty0 loglevel=4 panic=-1 earlycon earlyprintk=serial\n");
  EXPECT_EQ(c.args,
            "console=ttyS0,115200n8 systemd.show_status=1 quiet console=tty0 loglevel=4 panic=-1 "
            "earlycon earlyprintk=serial");
  EXPECT_TRUE(c.dropped.empty());
}

// The new slot's entry gets the release's own arguments, then the host's carried-over ones that
// the release does not already have; a release that says nothing keeps today's carry-over.
TEST(KernelArgsTest, TheReleasesOwnArgumentsComeFirstAndAreNotDoubled) {
  EXPECT_EQ(SlotKernelArgs(std::string("apparmor=1 security=apparmor console=ttyS0"),
                           "console=ttyS0 quiet console=tty1"),
            "apparmor=1 security=apparmor console=ttyS0 quiet console=tty1");
  EXPECT_EQ(SlotKernelArgs(std::nullopt, "console=ttyS0 quiet"), "console=ttyS0 quiet");
  EXPECT_EQ(SlotKernelArgs(std::string(""), "console=ttyS0"), "console=ttyS0");
  EXPECT_EQ(SlotKernelArgs(std::string("audit=1"), ""), "audit=1");
}

// Issue 18 (5): everything off the allowlist is dropped and named: a one-off console edit
// (init=, basalt.emergency=, basalt.verity=) must not become permanent with the next update, and
// an alias of basalt-init's own keys (mount.usr=, usrhash=) would override the new entry's /usr.
TEST(KernelArgsTest, OnlyTheAllowlistIsCarriedOver) {
  auto c = CarriedOverKernelArgs(
      "basalt.usr=PARTLABEL=USR-B basalt.usrhash=ab12 console=ttyS0 mount.usr=PARTLABEL=USR-A "
      "usrhash=cd34 init=/bin/sh basalt.verity=eio basalt.emergency=shell mount.usrfstype=ext4 "
      "root=/dev/sdb1 quietly consoleblank=0 rd.break\n");
  EXPECT_EQ(c.args, "console=ttyS0");
  EXPECT_EQ(
      c.dropped,
      (std::vector<std::string>{
          "mount.usr=PARTLABEL=USR-A (not on the allowlist)", "usrhash=cd34 (not on the allowlist)",
          "init=/bin/sh (not on the allowlist)", "basalt.verity=eio (not on the allowlist)",
          "basalt.emergency=shell (not on the allowlist)",
          "mount.usrfstype=ext4 (not on the allowlist)", "root=/dev/sdb1 (not on the allowlist)",
          "quietly (not on the allowlist)", "consoleblank=0 (not on the allowlist)",
          "rd.break (not on the allowlist)"}));
}

TEST(KernelArgsTest, ArgumentsAnEntryCannotHoldAreReportedNotKept) {
  auto c = CarriedOverKernelArgs("initrd=/x console=ttyS0 console=\"a\" loglevel=$x\n");
  EXPECT_EQ(c.args, "console=ttyS0");
  ASSERT_EQ(c.dropped.size(), 2u);
  EXPECT_EQ(c.dropped[0], "console=\"a\" (a boot entry cannot hold quotes, '$' or '\\')");
  EXPECT_EQ(c.dropped[1], "loglevel=$x (a boot entry cannot hold quotes, '$' or '\\')");
  EXPECT_EQ(CarriedOverKernelArgs("").args, "");
}

TEST(StateStore, RoundTripsEveryField) {
  UpdateState s;
  s.phase = Phase::kApplying;
  s.version = "2.0.0";
  s.from_version = "1.0.0";
  s.target_slot = "B";
  s.usr_root_hash = std::string(64, 'a');
  s.kernel_version = "6.1.0-2";
  s.kernel_cmdline = "apparmor=1 security=apparmor";
  s.boot_artifacts = {{"uki-A", std::string(64, '1')}, {"uki-B", std::string(64, '2')}};
  s.pcr11_predictions = {{"B", {"2.0.0", "B", {std::string(64, '3'), std::string(64, '4')}}}};
  s.measured_boot = {"differs", std::string(64, '5'), "PCR 11 is 555…", true};
  s.payload = PlannedPayload{true, "1.0.0", "http://x/releases/2.0.0/d.payload", 123, "ab", {}};
  s.full_payload =
      PlannedPayload{false, "", "http://x/f.payload", 456, "cd", {"http://m1/f", "http://m2/f"}};
  s.fell_back_to_full = true;
  s.fallback_reason = "delta source mismatch";
  s.downloaded_bytes = 999;
  s.last_error = "boom";
  s.last_error_code = "integrity";
  s.wait_reason = "paused";
  s.wait_reason_code = "paused";
  s.last_check = "2026-11-22T08:00:00Z";
  s.time_floor = "2026-11-20T00:00:00Z";
  s.legacy_metadata_version = 7;
  s.seen_channels = {{"beta", {120, std::string(64, 'b'), std::string(64, 'd')}},
                     {"stable", {7, std::string(64, 'c'), ""}}};
  s.rolled_back_releases = {"1.5.0"};
  s.last_success = "2026-11-22T08:05:00Z";
  s.downloaded_delta_total = 1234;
  s.downloaded_full_total = 5678;
  s.failures = {{"integrity", 2}, {"download", 1}};
  s.rollbacks = 3;
  auto back = ParseState(SerializeState(s));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, s);
}

// A state file from before the stable codes: a sentence gets "unknown" beside it (exit 1), no
// sentence no code; SetLastError/ClearLastError keep the pair together.
TEST(StateStore, CodesBesideSentences) {
  UpdateState s;
  s.last_error = "boom";
  s.wait_reason = "";
  std::string text = SerializeState(s);
  auto back = ParseState(text);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->last_error_code, "unknown");
  EXPECT_EQ(back->wait_reason_code, "");
  SetLastError(s, "channel stable refused (expired): ...", "expired");
  EXPECT_EQ(s.last_error_code, "expired");
  ClearLastError(s);
  EXPECT_EQ(s.last_error, "");
  EXPECT_EQ(s.last_error_code, "");
  SetWaitReason(s, "up-to-date", "up to date");
  EXPECT_EQ(s.wait_reason_code, "up-to-date");
  ClearWaitReason(s);
  EXPECT_EQ(s.wait_reason_code, "");
}

// A state file from before per-channel records keeps its one version as the legacy record.
TEST(StateStore, ReadsTheSingleMetadataVersionOfOlderStateFiles) {
  UpdateState s;
  std::string text = SerializeState(s);
  text.replace(text.find("\"last_metadata_version\": null"), 29, "\"last_metadata_version\": 9");
  text.erase(text.find("  \"seen_channels\": {},\n"), 23);
  auto back = ParseState(text);
  ASSERT_TRUE(back.has_value()) << back.error().message() << "\n" << text;
  EXPECT_EQ(back->legacy_metadata_version, std::optional<uint64_t>(9));
  EXPECT_TRUE(back->seen_channels.empty());
}

TEST(StateStore, RefusesDamagedFilesNamingTheProblem) {
  auto bad_phase = ParseState(R"({"format":1,"state":"flying"})");
  ASSERT_FALSE(bad_phase.has_value());
  EXPECT_NE(bad_phase.error().message().find("flying"), std::string::npos);
  auto missing = ParseState(R"({"format":1,"state":"idle"})");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("version"), std::string::npos);
  EXPECT_FALSE(ParseState("not json").has_value());
  EXPECT_FALSE(ParseState("[]").has_value());
  UpdateState s;
  s.target_slot = "C";
  EXPECT_FALSE(ParseState(SerializeState(s)).has_value());
  auto future = SerializeState(UpdateState{});
  future.replace(future.find("\"format\": 1"), 11, "\"format\": 2");
  auto f = ParseState(future);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().kind(), ErrorKind::kUnsupported);
}

TEST(StateStore, MissingFileIsIdleAndSaveIsAtomic) {
  auto dir = std::filesystem::temp_directory_path() / ("basalt-state-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  StateStore store(dir.string());
  auto s = store.Load();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->phase, Phase::kIdle);
  EXPECT_EQ(std::filesystem::status(dir).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  s->phase = Phase::kUpdatedNeedReboot;
  s->version = "2.0.0";
  ASSERT_TRUE(store.Save(*s).has_value());
  auto again = store.Load();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->phase, Phase::kUpdatedNeedReboot);
  // No temp files are left next to it.
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir))
    ++files;
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);
}

TEST(StateStore, PhaseNamesRoundTrip) {
  for (Phase p : {Phase::kIdle, Phase::kChecking, Phase::kDownloading, Phase::kApplying,
                  Phase::kVerifying, Phase::kFinalizing, Phase::kUpdatedNeedReboot,
                  Phase::kPendingHealth, Phase::kGood, Phase::kRolledBack}) {
    auto back = ParsePhase(PhaseName(p));
    ASSERT_TRUE(back.has_value()) << PhaseName(p);
    EXPECT_EQ(*back, p);
  }
  EXPECT_EQ(PhaseName(Phase::kUpdatedNeedReboot), "updated-need-reboot");
}

TEST(Backoff, DoublesUpToTheCapAndResets) {
  RetryPolicy p;
  p.initial = std::chrono::milliseconds(100);
  p.cap = std::chrono::milliseconds(1000);
  p.jitter = 0.2;
  Backoff b(p, [] { return 0.5; });  // no jitter at the midpoint
  EXPECT_EQ(b.Next().count(), 100);
  EXPECT_EQ(b.Next().count(), 200);
  EXPECT_EQ(b.Next().count(), 400);
  EXPECT_EQ(b.Next().count(), 800);
  EXPECT_EQ(b.Next().count(), 1000);
  EXPECT_EQ(b.Next().count(), 1000);
  b.Reset();
  EXPECT_EQ(b.Next().count(), 100);
  Backoff low(p, [] { return 0.0; });
  EXPECT_EQ(low.Next().count(), 80);
  Backoff high(p, [] { return 0.999999; });
  EXPECT_NEAR(static_cast<double>(high.Next().count()), 120, 1);
}

TEST(Mdir, ParsesFreeBytes) {
  auto n = ParseMdirFreeBytes(
      " Volume in drive : has no label\nDirectory for ::/\n\nNo files\n"
      "                         66 058 752 bytes free\n\n");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 66058752u);
  EXPECT_FALSE(ParseMdirFreeBytes("nothing here").has_value());
  EXPECT_FALSE(ParseMdirFreeBytes("  12x3 bytes free").has_value());
  EXPECT_FALSE(ParseMdirFreeBytes("   bytes free").has_value());
}

TEST(RebootWindow, WeeklyWindowIncludingMidnightCrossing) {
  daemon::RebootWindow thu{4, 23 * 60, std::chrono::hours(2)};  // Thu 23:00 for 2h
  EXPECT_TRUE(CheckWindow(thu, 4, 23 * 60).inside);
  EXPECT_TRUE(CheckWindow(thu, 5, 0 * 60 + 59).inside);  // Fri 00:59, still open
  EXPECT_FALSE(CheckWindow(thu, 5, 60).inside);          // Fri 01:00, closed
  auto before = CheckWindow(thu, 4, 22 * 60 + 30);
  EXPECT_FALSE(before.inside);
  EXPECT_EQ(before.minutes_until_open, 30);
  auto after = CheckWindow(thu, 5, 60);
  EXPECT_EQ(after.minutes_until_open, 7 * 24 * 60 - 120);
  // Saturday before Sunday wraps around the week.
  daemon::RebootWindow sun{0, 60, std::chrono::hours(1)};
  auto sat = CheckWindow(sun, 6, 23 * 60 + 30);
  EXPECT_FALSE(sat.inside);
  EXPECT_EQ(sat.minutes_until_open, 90);
  EXPECT_EQ(DescribeWindow(thu), "Thu 23:00 for 2h");
}

TEST(RebootWindow, DailyWindow) {
  daemon::RebootWindow daily{std::nullopt, 4 * 60, std::chrono::minutes(90)};
  for (int d = 0; d < 7; ++d) {
    EXPECT_TRUE(CheckWindow(daily, d, 5 * 60).inside) << d;
    EXPECT_FALSE(CheckWindow(daily, d, 5 * 60 + 30).inside) << d;
  }
  EXPECT_EQ(CheckWindow(daily, 2, 3 * 60).minutes_until_open, 60);
  EXPECT_EQ(CheckWindow(daily, 2, 6 * 60).minutes_until_open, 22 * 60);
  EXPECT_EQ(DescribeWindow(daily), "daily 04:00 for 1h30m");
}

std::tm Utc(std::time_t t) {
  std::tm out{};
  gmtime_r(&t, &out);
  return out;
}

TEST(RebootWindow, CoordinatorsSayWhyTheyWait) {
  daemon::RebootWindow thu{4, 4 * 60, std::chrono::hours(1)};
  auto w = NewWindowCoordinator(thu, Utc);
  EXPECT_EQ(w->strategy(), "window");
  // 2026-11-19 is a Thursday.
  auto at = [](int hour) {
    return std::chrono::system_clock::from_time_t(1795046400 + hour * 3600);  // 2026-11-19 00:00Z
  };
  auto in = w->MayReboot(at(4));
  ASSERT_TRUE(in.has_value());
  EXPECT_TRUE(in->reboot_now);
  auto out = w->MayReboot(at(2));
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(out->reboot_now);
  EXPECT_EQ(out->wait_reason, "outside the maintenance window Thu 04:00 for 1h; it opens in 2h");
  auto off = NewOffCoordinator()->MayReboot(at(4));
  ASSERT_TRUE(off.has_value());
  EXPECT_FALSE(off->reboot_now);
  EXPECT_NE(off->wait_reason.find("REBOOT_STRATEGY=off"), std::string::npos);
  EXPECT_TRUE(NewRebootNowCoordinator()->MayReboot(at(2))->reboot_now);
  daemon::UpdateConfig cfg;
  cfg.reboot_strategy = daemon::RebootStrategy::kWindow;
  EXPECT_FALSE(MakeRebootCoordinator(cfg).has_value());
  cfg.reboot_strategy = daemon::RebootStrategy::kEtcdLock;
  auto etcd = MakeRebootCoordinator(cfg);
  ASSERT_FALSE(etcd.has_value());
  EXPECT_EQ(etcd.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(etcd.error().message().find("ETCD_ENDPOINTS"), std::string::npos)
      << etcd.error().message();
}

TEST(StateStore, OlderFilesWithoutTotalsReadAsZero) {
  UpdateState s;
  s.failures["integrity"] = 4;
  std::string text = SerializeState(s);
  auto j = text.find("\"totals\"");
  ASSERT_NE(j, std::string::npos);
  // Cut the totals object out, as a state file from before it existed.
  auto end = text.find('}', j);
  end = text.find('}', end + 1);
  std::string old = text.substr(0, text.rfind(',', j)) + text.substr(end + 1);
  auto back = ParseState(old);
  ASSERT_TRUE(back.has_value()) << back.error().message() << "\n" << old;
  EXPECT_TRUE(back->failures.empty());
  EXPECT_EQ(back->rollbacks, 0u);
}

TEST(BootOutcome, StagedUpdateIsJudgedOnlyAfterAReboot) {
  UpdateState s;
  s.phase = Phase::kUpdatedNeedReboot;
  s.version = "2.0.0";
  s.target_slot = "B";
  s.staged_boot_id = "boot-1";
  EXPECT_EQ(JudgeBoot(s, "boot-1", "A"), BootOutcome::kNothing);  // a daemon restart
  EXPECT_EQ(JudgeBoot(s, "boot-2", "B"), BootOutcome::kPendingHealth);
  EXPECT_EQ(JudgeBoot(s, "boot-2", "A"), BootOutcome::kRolledBack);
}

// The e2e scenario's broken release: it booted (pending-health), its health checks failed, the
// daemon rebooted after HEALTH_TIMEOUT and GRUB, out of tries, booted the old slot. The state on
// disk still says pending-health; that boot is the rollback, and must not be taken for an idle
// host that would fetch the same release again.
TEST(BootOutcome, PendingSlotThatDidNotComeBackIsARollback) {
  UpdateState s;
  s.phase = Phase::kPendingHealth;
  s.version = "3.0.0";
  s.target_slot = "A";
  s.staged_boot_id = "boot-1";
  EXPECT_EQ(JudgeBoot(s, "boot-3", "B"), BootOutcome::kRolledBack);
  // Another try of the same slot, or a daemon restart in the pending boot: still pending.
  EXPECT_EQ(JudgeBoot(s, "boot-3", "A"), BootOutcome::kPendingHealth);
  EXPECT_EQ(JudgeBoot(s, "boot-1", "B"), BootOutcome::kRolledBack);
}

TEST(BootOutcome, SettledStatesAreLeftAlone) {
  for (Phase p : {Phase::kIdle, Phase::kGood, Phase::kRolledBack, Phase::kDownloading,
                  Phase::kApplying, Phase::kFinalizing}) {
    UpdateState s;
    s.phase = p;
    s.target_slot = "B";
    EXPECT_EQ(JudgeBoot(s, "boot-2", "A"), BootOutcome::kNothing) << PhaseName(p);
  }
}

TEST(StateStore, RollbackIsRecordedAndCounted) {
  UpdateState s;
  s.phase = Phase::kUpdatedNeedReboot;
  s.version = "2.0.0";
  s.target_slot = "B";
  s.wait_reason = "etcd reboot lock group g is full";
  RecordRollback(s, "A");
  EXPECT_EQ(s.phase, Phase::kRolledBack);
  EXPECT_EQ(s.rollbacks, 1u);
  EXPECT_TRUE(s.rolled_back_releases.contains("2.0.0"));
  EXPECT_EQ(s.wait_reason, "");
  EXPECT_NE(s.last_error.find("fell back to slot A"), std::string::npos) << s.last_error;
}

TEST(FleetWiring, FailureReasonsAndOmahaErrorCodes) {
  Error io(ErrorKind::kIo, "connection reset");
  Error integrity(ErrorKind::kIntegrity, "no signature by a trusted key");
  Error policy(ErrorKind::kPolicy, "pending health");
  EXPECT_EQ(FailureReason(io, Phase::kDownloading), "download");
  EXPECT_EQ(FailureReason(io, Phase::kFinalizing), "io");
  EXPECT_EQ(FailureReason(integrity, Phase::kApplying), "integrity");
  EXPECT_EQ(FailureReason(policy, Phase::kChecking), "policy");
  EXPECT_EQ(FailureReason(Error(ErrorKind::kPolicy, "cancelled"), Phase::kApplying), "cancelled");
  EXPECT_EQ(OmahaErrorCode(io, Phase::kDownloading), 9);
  EXPECT_EQ(OmahaErrorCode(integrity, Phase::kDownloading), 10);
  EXPECT_EQ(OmahaErrorCode(integrity, Phase::kApplying), 18);
  EXPECT_EQ(OmahaErrorCode(policy, Phase::kFinalizing), 1);
}

TEST(FleetWiring, MetricsComeFromTheStateAndMetricsPathDefaultsToTheStateDir) {
  UpdateState s;
  s.phase = Phase::kDownloading;
  s.version = "3.0.0";
  s.available_version = "2.5.0";
  s.last_check = "2026-11-22T08:00:00Z";
  s.last_success = "2026-11-21T08:00:00Z";
  s.downloaded_delta_total = 10;
  s.downloaded_full_total = 20;
  s.failures = {{"download", 2}};
  s.rollbacks = 1;
  s.rolled_back_releases = {"2.9.0"};
  s.payload = PlannedPayload{};
  s.payload->delta = true;
  auto m = MetricsOf(s, "1.0.0", "stable");
  EXPECT_EQ(m.rolled_back_releases, std::set<std::string>{"2.9.0"});
  EXPECT_EQ(m.route, "delta");
  EXPECT_EQ(m.attempted_version, "3.0.0");
  s.fell_back_to_full = true;
  EXPECT_EQ(MetricsOf(s, "1.0.0", "stable").route, "full");
  s.payload.reset();
  EXPECT_EQ(MetricsOf(s, "1.0.0", "stable").route, "");
  EXPECT_EQ(m.state, "downloading");
  EXPECT_EQ(m.next_version, "3.0.0");  // in flight wins over what a check found
  EXPECT_EQ(m.current_version, "1.0.0");
  ASSERT_TRUE(m.last_check.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*m.last_check), 1795334400);
  auto j = MetricsJson(m);
  EXPECT_EQ(j["last_success"], "2026-11-21T08:00:00Z");
  EXPECT_EQ(j["downloaded_full_bytes"], 20);
  EXPECT_EQ(j["failures"]["download"], 2);
  s.phase = Phase::kIdle;
  EXPECT_EQ(MetricsOf(s, "", "").next_version, "2.5.0");
  EXPECT_FALSE(MetricsOf(UpdateState{}, "", "").last_check.has_value());

  daemon::UpdateConfig cfg;
  EXPECT_EQ(cfg.metrics_path, fleet::kDefaultMetricsPath);
  // The host's own state reports to node-exporter's textfile directory, as Debian packages it.
  EXPECT_EQ(MetricsPathFor(cfg, "/var/lib/basalt"),
            "/var/lib/prometheus/node-exporter/basalt.prom");
  EXPECT_EQ(MetricsPathFor(cfg, "/tmp/st"), "/tmp/st/metrics.prom");
  cfg.metrics_path = "/run/node_exporter/basalt.prom";
  EXPECT_EQ(MetricsPathFor(cfg, "/tmp/st"), "/run/node_exporter/basalt.prom");
  cfg.metrics_path = "";
  EXPECT_EQ(MetricsPathFor(cfg, "/tmp/st"), "");
}

// A host without prometheus-node-exporter has no textfile directory: one warning naming it, then
// silence while it stays missing, and the saves themselves succeed.
TEST(FleetWiring, AMissingMetricsDirectoryIsWarnedAboutOnceAndNeverFailsASave) {
  struct CountingLogger : Logger {
    void Log(LogLevel level, std::string_view m, const std::vector<LogField>&) override {
      if (level == LogLevel::kWarning) warnings.emplace_back(m);
    }
    std::vector<std::string> warnings;
  } log;
  auto dir = std::filesystem::temp_directory_path() / ("metrics-once-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  StateStore store((dir / "state").string());
  std::string textfile = (dir / "node-exporter").string();
  WriteMetricsOnSave(
      store, textfile + "/basalt.prom", [] { return "1.0"; }, "stable", log);
  auto s = store.Load();  // creates the state directory, as the daemon's start does
  ASSERT_TRUE(s.has_value());
  ASSERT_TRUE(store.Save(*s).has_value());
  ASSERT_TRUE(store.Save(*s).has_value());
  ASSERT_EQ(log.warnings.size(), 1u);
  EXPECT_NE(log.warnings[0].find(textfile + " does not exist"), std::string::npos)
      << log.warnings[0];
  // The directory appears (node-exporter installed): the file is written, 0644.
  std::filesystem::create_directories(textfile);
  ASSERT_TRUE(store.Save(*s).has_value());
  EXPECT_EQ(std::filesystem::status(textfile + "/basalt.prom").permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms(0644));
  EXPECT_EQ(log.warnings.size(), 1u);
  std::filesystem::remove_all(dir);
}

class ListedFiles : public SlotFiles {
 public:
  explicit ListedFiles(std::vector<std::string> files) : files_(std::move(files)) {}
  Status CopyOut(const std::string&, uint64_t, const std::string&) override { return {}; }
  Result<std::vector<std::string>> ListFiles(const std::string& prefix) override {
    std::vector<std::string> out;
    for (const auto& f : files_) {
      if (f.starts_with(prefix)) out.push_back(f);
    }
    return out;
  }

 private:
  std::vector<std::string> files_;
};

TEST(SlotFiles, KernelVersionIsTheOneVmlinuzInLibModules) {
  ListedFiles one({"/lib/modules/6.1.0-56-cloud-amd64/vmlinuz",
                   "/lib/modules/6.1.0-56-cloud-amd64/initrd.img",
                   "/lib/modules/6.1.0-56-cloud-amd64/kernel/fs/erofs.ko", "/bin/sh"});
  auto k = FindKernelVersion(one);
  ASSERT_TRUE(k.has_value()) << k.error().message();
  EXPECT_EQ(*k, "6.1.0-56-cloud-amd64");
  ListedFiles two({"/lib/modules/a/vmlinuz", "/lib/modules/b/vmlinuz"});
  auto both = FindKernelVersion(two);
  ASSERT_FALSE(both.has_value());
  EXPECT_NE(both.error().message().find("found 2 (a, b)"), std::string::npos)
      << both.error().message();
  ListedFiles none({"/lib/modules/a/extra/vmlinuz"});
  EXPECT_FALSE(FindKernelVersion(none).has_value());
}

// A repository in `dir` whose stable channel names `rel`, both signed by `key`.
void WriteStableRepo(const basalt::testing::TempDir& dir, const repo::Release& rel,
                     const PrivateKey& key) {
  repo::Channel c = repo::testing::MakeChannel(rel.version);
  c.expires = std::chrono::floor<std::chrono::seconds>(Now()) + std::chrono::days(7);
  std::filesystem::create_directories(dir / "channels");
  std::filesystem::create_directories(dir / ("releases/" + rel.version));
  repo::testing::WriteAll(
      dir / "channels/stable.json",
      repo::testing::Sign(repo::kChannelPayloadType, repo::SerializeChannel(c), key));
  repo::testing::WriteAll(
      dir / ("releases/" + rel.version + "/release.json"),
      repo::testing::Sign(repo::kReleasePayloadType, repo::SerializeRelease(rel), key));
}

// A host on 1.0.0 following the stable channel.
HostFacts StableHost() {
  HostFacts host;
  host.current_version = "1.0.0";
  host.current_root_hash = std::string(64, 'a');
  host.channel = "stable";
  host.machine_id = "0123456789abcdef0123456789abcdef";
  return host;
}

// THRESHOLD= reaches the daemon's repository source: a repository signed by one of the host's two
// trusted keys is refused when the host asks for two, and followed when it asks for one.
TEST(FleetWiring, TheConfiguredThresholdIsEnforcedByTheRepositorySource) {
  basalt::testing::TempDir dir;
  const PrivateKey one = repo::testing::NewKey(), two = repo::testing::NewKey();
  Keyring keys;
  keys.Add(one.public_key());
  keys.Add(two.public_key());
  WriteStableRepo(dir, repo::testing::MakeRelease("2.0.0", 'b'), one);
  daemon::UpdateConfig cfg;
  cfg.server = dir.path();
  const HostFacts host = StableHost();
  auto fetcher = http::MakeCurlFetcher();
  for (size_t threshold : {2, 1}) {
    cfg.threshold = threshold;
    HostTrust trust = HostTrust::FromKeyring(keys, cfg.threshold);
    auto source = MakeUpdateSource(cfg, *fetcher, trust);
    ASSERT_TRUE(source) << source.error().message();
    auto offer = (*source)->Check(host);
    if (threshold == 2) {
      ASSERT_FALSE(offer) << "one signature satisfied a threshold of two";
      EXPECT_EQ(offer.error().kind(), ErrorKind::kIntegrity) << offer.error().message();
      EXPECT_NE(offer.error().message().find("1 valid signature(s) from trusted keys, 2 required"),
                std::string::npos)
          << offer.error().message();
    } else {
      ASSERT_TRUE(offer) << offer.error().message();
      EXPECT_TRUE(offer->update) << offer->reason;
      EXPECT_EQ(offer->version, "2.0.0");
    }
  }
}

// The signed release's boot.uki.<slot>.measurements reach the offer as that slot's PCR 11
// predictions: the stub's value, then each systemd-pcrphase phase in boot order.
TEST(FleetWiring, TheReleasesUkiMeasurementsBecomeTheOffersPcr11Predictions) {
  basalt::testing::TempDir dir;
  const PrivateKey key = repo::testing::NewKey();
  Keyring keys;
  keys.Add(key.public_key());
  repo::Release rel = repo::testing::MakeRelease("2.0.0", 'b');
  attest::UkiMeasurements m;
  m.authenticode_sha256 = std::string(64, '1');
  m.pcr11 = std::string(64, '2');
  m.pcr11_phases = {{"enter-initrd", std::string(64, '3')},
                    {"enter-initrd:leave-initrd", std::string(64, '4')},
                    {"enter-initrd:leave-initrd:sysinit", std::string(64, '5')},
                    {"enter-initrd:leave-initrd:sysinit:ready", std::string(64, '6')},
                    {"sysinit", std::string(64, '7')},
                    {"sysinit:ready", std::string(64, '8')}};
  rel.boot = repo::BootInfo{};
  rel.boot->uki["A"] = {1000, std::string(64, 'c'), m};
  rel.boot->uki["B"] = {1000, std::string(64, 'd')};  // released without measurements
  WriteStableRepo(dir, rel, key);
  daemon::UpdateConfig cfg;
  cfg.server = dir.path();
  const HostFacts host = StableHost();
  auto fetcher = http::MakeCurlFetcher();
  HostTrust trust = HostTrust::FromKeyring(keys, 1);
  auto source = MakeUpdateSource(cfg, *fetcher, trust);
  ASSERT_TRUE(source) << source.error().message();
  auto offer = (*source)->Check(host);
  ASSERT_TRUE(offer) << offer.error().message();
  ASSERT_TRUE(offer->update) << offer->reason;
  const std::map<std::string, std::vector<std::string>> expected = {
      {"A",
       {std::string(64, '2'), std::string(64, '3'), std::string(64, '4'), std::string(64, '5'),
        std::string(64, '6'), std::string(64, '7'), std::string(64, '8')}}};
  EXPECT_EQ(offer->pcr11_predictions, expected);
}

// A repository with a root: roots/1.json (root key R, release key A, channel key B) and whatever
// the test adds; stable names 2.0.0.
class RootRepo {
 public:
  RootRepo() {
    for (const char* d : {"roots", "channels", "releases/2.0.0"})
      std::filesystem::create_directories(dir_ / d);
    root_.repository = "prod";
    root_.version = 1;
    root_.expires = std::chrono::floor<std::chrono::seconds>(Now()) + std::chrono::days(30);
    SetRole(repo::Role::kRoot, root_key_);
    SetRole(repo::Role::kRelease, release_key_);
    SetRole(repo::Role::kChannel, channel_key_);
    shipped_ = Publish({&root_key_});
    WriteDocs(channel_key_, release_key_);
  }

  void SetRole(repo::Role role, const PrivateKey& key) {
    root_.keys.insert_or_assign(key.id(), key.public_key());
    root_.role(role) = {{key.id()}, 1};
  }

  // Signs the current root_ as the next version and serves it as roots/<version>.json.
  std::string Publish(std::vector<const PrivateKey*> signers) {
    std::vector<PrivateKey> keys;
    for (auto* k : signers)
      keys.push_back(*k);
    auto env = repo::SignEnvelope(repo::kRootPayloadType, repo::SerializeRoot(root_), keys);
    EXPECT_TRUE(env.has_value());
    repo::testing::WriteAll(dir_ / fmt::format("roots/{}.json", root_.version), *env);
    return *env;
  }

  void WriteDocs(const PrivateKey& channel_signer, const PrivateKey& release_signer,
                 const std::string& repository = "prod") {
    repo::Release rel = repo::testing::MakeRelease("2.0.0", 'b');
    rel.repository = repository;
    const std::string rel_body = repo::SerializeRelease(rel);
    repo::Channel c = repo::testing::MakeChannel("2.0.0");
    c.metadata_version = ++channel_version_;
    c.repository = repository;
    c.expires = std::chrono::floor<std::chrono::seconds>(Now()) + std::chrono::days(7);
    repo::testing::WriteAll(
        dir_ / "channels/stable.json",
        repo::testing::Sign(repo::kChannelPayloadType, repo::SerializeChannel(c), channel_signer));
    repo::testing::WriteAll(
        dir_ / "releases/2.0.0/release.json",
        repo::testing::Sign(repo::kReleasePayloadType, rel_body, release_signer));
  }

  Result<UpdateOffer> Check(HostTrust& trust, const HostFacts& host) {
    daemon::UpdateConfig cfg;
    cfg.server = dir_.path();
    auto source = MakeUpdateSource(cfg, *fetcher_, trust);
    if (!source) return std::unexpected(source.error());
    return (*source)->Check(host);
  }

  static HostFacts Host() {
    HostFacts host;
    host.current_version = "1.0.0";
    host.current_root_hash = std::string(64, 'a');
    host.channel = "stable";
    host.machine_id = "0123456789abcdef0123456789abcdef";
    return host;
  }

  basalt::testing::TempDir dir_, state_;
  repo::Root root_;
  PrivateKey root_key_ = repo::testing::NewKey(), release_key_ = repo::testing::NewKey(),
             channel_key_ = repo::testing::NewKey();
  std::string shipped_;
  uint64_t channel_version_ = 0;
  std::unique_ptr<http::Fetcher> fetcher_ = http::MakeCurlFetcher();
};

// The host follows a rotation of the release key published as roots/2.json: the new root is kept
// in the state directory, payloads must then be signed by the new release key, a release signed by
// the old one is refused, and a restart starts from the kept root.
TEST(HostTrustTest, FollowsARotationKeepsItAndVerifiesWithTheNewRoles) {
  RootRepo r;
  repo::testing::WriteAll(r.state_ / "shipped-root.json", r.shipped_);
  HostTrustOptions o{.keys_dir = "/nonexistent",
                     .root_file = r.state_ / "shipped-root.json",
                     .state_dir = r.state_.path()};
  auto trust = HostTrust::Load(o);
  ASSERT_TRUE(trust.has_value()) << trust.error().message();
  ASSERT_TRUE(trust->has_root());
  EXPECT_EQ(trust->payload_keys().keys().begin()->first, r.release_key_.id());

  auto first = r.Check(*trust, RootRepo::Host());
  ASSERT_TRUE(first.has_value()) << first.error().message();
  EXPECT_TRUE(first->update);

  // Operator: the release key leaked; roots/2.json replaces it.
  const PrivateKey old_release = r.release_key_;
  r.release_key_ = repo::testing::NewKey();
  r.root_.version = 2;
  r.SetRole(repo::Role::kRelease, r.release_key_);
  r.root_.keys.erase(old_release.id());
  r.Publish({&r.root_key_});
  r.WriteDocs(r.channel_key_, old_release);  // the thief's release
  auto stolen = r.Check(*trust, RootRepo::Host());
  ASSERT_FALSE(stolen.has_value());
  EXPECT_NE(stolen.error().message().find("(bad-release-signature)"), std::string::npos)
      << stolen.error().message();
  EXPECT_EQ(trust->root()->root.version, 2u);
  EXPECT_EQ(trust->payload_keys().size(), 1u);
  EXPECT_NE(trust->payload_keys().Find(r.release_key_.id()), nullptr);
  EXPECT_EQ(trust->payload_keys().Find(old_release.id()), nullptr);

  r.WriteDocs(r.channel_key_, r.release_key_);
  auto good = r.Check(*trust, RootRepo::Host());
  ASSERT_TRUE(good.has_value()) << good.error().message();
  EXPECT_TRUE(good->update);
  EXPECT_FALSE(good->metadata_keys.empty());

  auto reloaded = HostTrust::Load(o);
  ASSERT_TRUE(reloaded.has_value()) << reloaded.error().message();
  EXPECT_EQ(reloaded->root()->root.version, 2u) << "the kept root was not used after a restart";
}

// A rotation step signed only by the new root key is refused; the host stays at version 1 and
// says why. Kept roots that do not chain from the shipped one are ignored at start.
TEST(HostTrustTest, RefusesAForgedRotationAndAForeignKeptRoot) {
  RootRepo r;
  repo::testing::WriteAll(r.state_ / "shipped-root.json", r.shipped_);
  HostTrustOptions o{.root_file = r.state_ / "shipped-root.json", .state_dir = r.state_.path()};
  auto trust = HostTrust::Load(o);
  ASSERT_TRUE(trust.has_value()) << trust.error().message();
  const PrivateKey thief = repo::testing::NewKey();
  r.root_.version = 2;
  r.SetRole(repo::Role::kRoot, thief);
  r.SetRole(repo::Role::kChannel, thief);
  r.Publish({&thief});
  auto offer = r.Check(*trust, RootRepo::Host());
  ASSERT_FALSE(offer.has_value());
  EXPECT_NE(offer.error().message().find("repository root refused (bad-root-signature)"),
            std::string::npos)
      << offer.error().message();
  EXPECT_EQ(trust->root()->root.version, 1u);
  EXPECT_FALSE(std::filesystem::exists(r.state_ / "root.json"));

  // Kept roots are re-verified from the shipped one at every start: a version 2 in the state
  // directory signed only by a key the shipped root does not name (planted, restored from a
  // backup, or another repository's) is ignored with a warning, and the host starts from the
  // shipped root instead of trusting the planted keys or never starting.
  std::filesystem::create_directories(r.state_ / "roots");
  repo::Root planted = r.root_;
  planted.version = 2;
  auto env = repo::SignEnvelope(repo::kRootPayloadType, repo::SerializeRoot(planted),
                                std::vector<PrivateKey>{thief});
  ASSERT_TRUE(env.has_value());
  repo::testing::WriteAll(r.state_ / "roots/2.json", *env);
  repo::testing::WriteAll(r.state_ / "root.json", *env);  // root.json alone is never trusted
  auto foreign = HostTrust::Load(o);
  ASSERT_TRUE(foreign.has_value()) << foreign.error().message();
  EXPECT_EQ(foreign->root()->root.version, 1u);
  EXPECT_NE(foreign->load_warning().find("ignoring the kept roots from version 2 on "
                                         "(bad-root-signature)"),
            std::string::npos)
      << foreign->load_warning();
  EXPECT_EQ(foreign->payload_keys().Find(thief.id()), nullptr);
  repo::testing::WriteAll(r.state_ / "roots/2.json", "{\"payloadType\": 1}");
  auto damaged = HostTrust::Load(o);
  ASSERT_TRUE(damaged.has_value()) << damaged.error().message();
  EXPECT_EQ(damaged->root()->root.version, 1u);
  EXPECT_NE(damaged->load_warning().find("ignoring the kept roots from version 2 on"),
            std::string::npos)
      << damaged->load_warning();
  // An explicitly named root file that cannot be read is an error, not keys-only trust.
  HostTrustOptions unreadable = o;
  unreadable.root_file = r.state_ / "root.json/x";  // ENOTDIR, not ENOENT
  EXPECT_FALSE(HostTrust::Load(unreadable).has_value());
}

// With a root, a document of another repository signed by the right keys is refused, and
// THRESHOLD= raises the role thresholds.
TEST(HostTrustTest, RepositoryIdentityAndThresholdFloor) {
  RootRepo r;
  repo::testing::WriteAll(r.state_ / "shipped-root.json", r.shipped_);
  HostTrustOptions o{.root_file = r.state_ / "shipped-root.json", .state_dir = ""};
  auto trust = HostTrust::Load(o);
  ASSERT_TRUE(trust.has_value()) << trust.error().message();
  r.WriteDocs(r.channel_key_, r.release_key_, "staging");
  auto mixed = r.Check(*trust, RootRepo::Host());
  ASSERT_FALSE(mixed.has_value());
  EXPECT_NE(mixed.error().message().find("(wrong-repository)"), std::string::npos)
      << mixed.error().message();

  r.WriteDocs(r.channel_key_, r.release_key_);
  o.min_threshold = 2;
  auto strict = HostTrust::Load(o);
  ASSERT_TRUE(strict.has_value()) << strict.error().message();
  EXPECT_EQ(strict->payload_threshold(), 2u);
  auto one = r.Check(*strict, RootRepo::Host());
  ASSERT_FALSE(one.has_value());
  EXPECT_NE(one.error().message().find("1 valid signature(s) from trusted keys, 2 required"),
            std::string::npos)
      << one.error().message();
}

// The clock floor: a host whose clock was set back after it last checked judges expiry at the
// time of that check, so metadata it saw expire stays expired.
TEST(HostTrustTest, AClockSetBackDoesNotReviveExpiredMetadata) {
  RootRepo r;
  HostTrust trust = HostTrust::FromKeyring(
      [&] {
        Keyring k;
        k.Add(r.channel_key_.public_key());
        k.Add(r.release_key_.public_key());
        return k;
      }(),
      1);
  HostFacts host = RootRepo::Host();
  auto now = r.Check(trust, host);
  ASSERT_TRUE(now.has_value()) << now.error().message();
  // The offer carries the release's signed creation time, which the flow keeps as the floor.
  ASSERT_TRUE(now->signed_time.has_value());
  EXPECT_EQ(*now->signed_time, repo::testing::MakeRelease("2.0.0", 'b').created);
  // A host that verified a release signed 8 days from its clock's view: the clock was set back.
  host.not_before = std::chrono::floor<std::chrono::seconds>(Now()) + std::chrono::days(8);
  auto later = r.Check(trust, host);
  ASSERT_FALSE(later.has_value());
  EXPECT_NE(later.error().message().find("(expired)"), std::string::npos)
      << later.error().message();
  EXPECT_NE(later.error().message().find("so it judges expiry at that time"), std::string::npos)
      << later.error().message();
  // A floor in the past changes nothing.
  host.not_before = std::chrono::floor<std::chrono::seconds>(Now()) - std::chrono::days(8);
  EXPECT_TRUE(r.Check(trust, host).has_value());
}

// PROTOCOL=omaha with ROOT_SERVER: before asking the Omaha server, the host follows the static
// repository's roots, so a revocation reaches it (the payload keys change) and a forged root
// stops the check before any offer is taken.
TEST(HostTrustTest, OmahaHostsFollowTheRootServer) {
  RootRepo r;
  repo::testing::WriteAll(r.state_ / "shipped-root.json", r.shipped_);
  HostTrustOptions o{.root_file = r.state_ / "shipped-root.json", .state_dir = r.state_.path()};
  auto trust = HostTrust::Load(o);
  ASSERT_TRUE(trust.has_value()) << trust.error().message();
  daemon::UpdateConfig cfg;
  cfg.protocol = daemon::UpdateProtocol::kOmaha;
  cfg.server = "https://127.0.0.1:1/v1/update/";  // nothing listens: the offer itself fails
  cfg.omaha_app_id = "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}";
  cfg.root_server = r.dir_.path();
  auto fetcher = http::MakeCurlFetcher();
  auto source = MakeUpdateSource(cfg, *fetcher, *trust);
  ASSERT_TRUE(source.has_value()) << source.error().message();

  // A forged rotation: refused before the Omaha server is asked.
  const PrivateKey thief = repo::testing::NewKey();
  repo::Root forged = r.root_;
  forged.version = 2;
  forged.keys.insert_or_assign(thief.id(), thief.public_key());
  forged.release = {{thief.id()}, 1};
  auto env = repo::SignEnvelope(repo::kRootPayloadType, repo::SerializeRoot(forged),
                                std::vector<PrivateKey>{thief});
  ASSERT_TRUE(env.has_value());
  repo::testing::WriteAll(r.dir_ / "roots/2.json", *env);
  auto refused = (*source)->Check(RootRepo::Host());
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("repository root refused (bad-root-signature)"),
            std::string::npos)
      << refused.error().message();
  EXPECT_EQ(trust->payload_keys().Find(thief.id()), nullptr);

  // The real revocation of the release key: followed, then the Omaha server is asked.
  const PrivateKey old_release = r.release_key_;
  r.release_key_ = repo::testing::NewKey();
  r.root_.version = 2;
  r.SetRole(repo::Role::kRelease, r.release_key_);
  r.root_.keys.erase(old_release.id());
  r.Publish({&r.root_key_});
  auto asked = (*source)->Check(RootRepo::Host());
  ASSERT_FALSE(asked.has_value());  // nothing listens on port 1
  EXPECT_EQ(asked.error().message().find("repository root refused"), std::string::npos)
      << asked.error().message();
  EXPECT_EQ(trust->root()->root.version, 2u);
  EXPECT_EQ(trust->payload_keys().Find(old_release.id()), nullptr);
  EXPECT_NE(trust->payload_keys().Find(r.release_key_.id()), nullptr);
}

}  // namespace
}  // namespace basalt::update
