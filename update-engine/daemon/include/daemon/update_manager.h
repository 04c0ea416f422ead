// What basalt-updated does besides D-Bus: owns the update flow (run on a worker thread so the bus
// stays responsive), the periodic check with jitter, the reboot strategy, and the after-boot
// logic: a booted pending slot waits for its health checks (the mark-good unit after
// boot-complete.target calls MarkGood); booting the old slot while an update was pending is
// recorded as a rollback and that release is skipped until the channel moves on.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/log.h"
#include "daemon/after_boot.h"
#include "daemon/config.h"
#include "daemon/host_trust.h"
#include "daemon/reboot_coordinator.h"
#include "daemon/reboot_slot.h"
#include "daemon/state_store.h"
#include "daemon/update_flow.h"
#include "daemon/update_source.h"
#include "daemon/update_target.h"
#include "http/fetcher.h"

namespace basalt::update {

struct ManagerOptions {
  daemon::UpdateConfig config;
  std::string keys_dir = "/usr/share/basalt/keys";
  std::string root_file = "/usr/share/basalt/root.json";  // absent: keys-only trust
  std::string state_dir = "/var/lib/basalt";
  std::optional<std::string> disk;  // an offline disk image instead of the running host
  std::string machine_id;
  std::string boot_id;        // this boot's id; tells a daemon restart from a reboot
  std::string extra_cmdline;  // kernel arguments the new slot's entry carries over
  bool periodic_checks = true;
  // Where the kernel shows the TPM's SHA-256 PCRs (ReadSysfsPcr); tests point it elsewhere.
  std::string pcr_dir = "/sys/class/tpm/tpm0/pcr-sha256";
  // Asks logind to reboot; the daemon passes a D-Bus call, tests a fake.
  std::function<Status()> reboot;
};

// What the manager works with. Create wires the real ones from the options; tests hand in fakes
// (tests/fakes) and a clock.
struct ManagerParts {
  // Behind pointers so their addresses stay put: the source refers to the trust and the fetcher.
  std::unique_ptr<HostTrust> trust;
  std::unique_ptr<http::Fetcher> fetcher;
  std::unique_ptr<UpdateSource> source;
  std::unique_ptr<UpdateTarget> target;
  std::unique_ptr<RebootCoordinator> coordinator;
  // Jitter of the periodic check and of the reboot-lock retries, in [0, 1); empty:
  // std::random_device.
  std::function<double()> random01;
  // The time the after-boot steps and the first periodic check count from; empty: the system
  // clock. Tick is handed its time by the caller.
  std::function<std::chrono::system_clock::time_point()> now;
};

// The production parts for `options`: the root in root_file (else the keys in keys_dir), curl, the
// source PROTOCOL names, the disk image or the running host, the reboot strategy REBOOT_STRATEGY
// names.
Result<ManagerParts> MakeManagerParts(const ManagerOptions& options, Logger& log);

struct Snapshot {
  UpdateState state;
  double progress = 0;  // of the current phase, 0..1
  bool busy = false;
  std::string current_version;
  std::string current_slot;
  std::string channel;
  // Check/Apply runs started since the daemon started, and the number of the last one that
  // failed (0: none). A client following its run compares the two: a last_error left by an
  // earlier run must not make its own successful run look failed.
  uint64_t operation = 0;
  uint64_t failed_operation = 0;
  // Both slots as the bootloader sees them (D-Bus "Slots"); read at start, after every run,
  // rollback and mark-good.
  std::vector<SlotView> slots;
};

class UpdateManager {
 public:
  static Result<std::unique_ptr<UpdateManager>> Create(ManagerOptions options, Logger& log);
  // Over the given parts (every pointer set); loads the persisted state.
  static Result<std::unique_ptr<UpdateManager>> Create(ManagerOptions options, ManagerParts parts,
                                                       Logger& log);
  ~UpdateManager();

  Snapshot Get() const;
  // Bumped whenever the snapshot changes; the bus loop emits PropertiesChanged on a change.
  // Bumped before and after every change of the snapshot, under its lock: odd while a change is
  // under way. A reader that sees the same even value before and after reading several
  // properties read one consistent snapshot (a seqlock; D-Bus property "Generation").
  uint64_t generation() const { return generation_.load(); }

  Status StartCheck();
  Status StartApply(std::optional<std::string> to_version);
  Status Cancel();
  Status Rollback();
  Status MarkGood();

  // After boot: turns updated-need-reboot or pending-health into pending-health (the new slot
  // booted) or rolled-back (the old slot booted after a reboot; JudgeBoot). Runs at startup.
  Status AfterBoot();
  // The main loop's heartbeat: periodic checks, reboot decisions, the health timeout.
  void Tick(std::chrono::system_clock::time_point now);

 private:
  UpdateManager(ManagerOptions o, ManagerParts parts, Logger& log);
  // This boot's measured-boot judgement (measured_boot.h) into the state, and the journal.
  Status JudgeThisBoot();
  Status StartFlow(bool check_only, std::optional<std::string> to);
  // Runs one update flow on the worker thread; an exception becomes a recorded last_error.
  Result<UpdateState> RunFlowCatching(FlowOptions fl);
  Status Persist(const UpdateState& s);
  void Publish(const UpdateState& s);
  Status RefreshCurrent();
  // Only the slots (after a run or mark-good): the running slot and version stay.
  Status RefreshSlots();
  HostFacts Facts() const;
  std::chrono::seconds Jittered(std::chrono::seconds interval);

  ManagerOptions opt_;
  Logger& log_;
  ManagerParts parts_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<RebootSlot> reboot_slot_;
  std::unique_ptr<AfterBootSteps> after_boot_;

  mutable std::mutex mu_;
  Snapshot snap_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> cancel_{false};
  std::atomic<bool> busy_{false};
  std::thread worker_;
  std::chrono::system_clock::time_point next_check_{};
  std::chrono::system_clock::time_point pending_since_{};
  bool reboot_requested_ = false;
};

}  // namespace basalt::update
