#include "daemon/update_cli.h"

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <thread>
#include <tuple>

#include "common/keyring.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/time_util.h"
#include "daemon/after_boot.h"
#include "daemon/backoff.h"
#include "daemon/config.h"
#include "daemon/fleet_wiring.h"
#include "daemon/reboot_slot.h"
#include "daemon/reboot_strategies.h"
#include "daemon/state_store.h"
#include "daemon/update_flow.h"
#include "daemon/update_target.h"
#include "http/fetcher.h"
#include "repo/names.h"
#include "update_client.h"

namespace basalt {
namespace {

int RunDaemonCall(const std::string& method, const std::string& arg, bool follow, bool json);

// A missing option is a bad command line (exit 2, docs/cli.md), not bad input data.
int UsageError(const std::string& message) {
  std::fputs(fmt::format("basalt: error: {}\n", message).c_str(), stderr);
  return kExitUsage;
}
int PrintDaemon(const update::DaemonStatus& s, bool json);

struct ApplyArgs {
  const CommandRunner* runner = nullptr;  // -q/-v/--log-level
  std::string disk;
  std::string repo;
  std::string channel;
  std::string keys;
  std::string root_file;
  std::string state;
  std::string to;
  std::string machine_id = "basalt-offline";
  std::string kernel_cmdline;
  size_t threshold = 0;  // 0: THRESHOLD from --config, else 1
  int tries = 3;
  long stall_seconds = 60;
  long retry_initial_ms = 1000;
  int max_attempts = 12;
  long checkpoint_ms = 1000;
  std::string config;    // an update.conf: PROTOCOL, SERVER, CHANNEL, REBOOT_STRATEGY, ETCD_*, ...
  long reboot_wait = 0;  // seconds the reboot step may wait for the strategy (0: no limit)
  long lock_poll_ms = 1000;
  bool json = false;
};

struct AfterBootArgs {
  const CommandRunner* runner = nullptr;  // -q/-v/--log-level
  std::string disk, state, config;
  std::string machine_id = "basalt-offline";
  bool rolled_back = false;
  long reboot_wait = 0;
  bool json = false;
};

// What the offline reboot step decided.
struct RebootStep {
  std::string strategy;
  bool reboot_now = false;
  std::string wait_reason;
};

Result<daemon::UpdateConfig> LoadConfigFile(const std::string& path) {
  daemon::UpdateConfig cfg;
  if (path.empty()) return cfg;
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  BASALT_RETURN_IF_ERROR(daemon::ApplyConfigText(text, path, cfg));
  return cfg;
}

// This boot's id, sent to an Omaha server and recorded as the staging boot. An image updated
// offline has no boot of its own, so without /proc the update goes on without it (and says so).
std::string BootId(Logger& log) {
  auto id = ReadFileToString("/proc/sys/kernel/random/boot_id");
  if (!id) {
    log.Warn("no boot id: " + id.error().message());
    return "";
  }
  std::string s = *id;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

// The version of the slot the image boots next: what "runs" on an offline image. Shown in
// status and the metrics only, so an image whose boot state cannot be read shows "" (and says
// why on stderr) rather than failing the command.
std::string ActiveVersion(update::UpdateTarget& target, Logger& log) {
  auto active = target.ActiveSlot();
  if (!active) {
    log.Warn("cannot tell the image's current version: " + active.error().message());
    return "";
  }
  auto bs = target.boot().GetStatus();
  if (!bs) {
    log.Warn("cannot tell the image's current version: " + bs.error().message());
    return "";
  }
  return bs->slots[boot::SlotIndex(*active)].version;
}

// The offline commands report a failed run once, as the `basalt: error:` line of ReportError.
// The flow also logs that failure (for the daemon's journal), tagged with ERROR_CODE: that record
// is dropped here so stderr does not say it twice. Everything else passes through.
class ReportedOnceLogger : public Logger {
 public:
  explicit ReportedOnceLogger(Logger& inner) : inner_(inner) {}
  void Log(LogLevel level, std::string_view message, const std::vector<LogField>& fields) override {
    if (level >= LogLevel::kError) {
      for (const auto& f : fields) {
        if (f.first == "ERROR_CODE") return;
      }
    }
    inner_.Log(level, message, fields);
  }

 private:
  Logger& inner_;
};

update::Backoff LockBackoff() {
  update::RetryPolicy p;
  p.initial = std::chrono::milliseconds(200);
  p.cap = std::chrono::seconds(5);
  return update::Backoff(p, [] { return 0.5; });
}

// The offline stand-in for the daemon's reboot decision: asks the configured strategy through
// the daemon's RebootSlot. etcd-lock blocks until this machine holds a slot (polling while the
// group is full, backing off while etcd is unreachable; never "reboot now" without the slot);
// the others answer at once. The wait reason is recorded in the state as the daemon would.
Result<RebootStep> RunRebootStep(const daemon::UpdateConfig& cfg, const std::string& machine_id,
                                 update::StateStore& store, update::UpdateState& st,
                                 long wait_seconds, long poll_ms, Logger& log) {
  BASALT_ASSIGN_OR_RETURN(auto coordinator, update::MakeRebootCoordinator(cfg, machine_id, &log));
  update::RebootSlot slot(*coordinator, LockBackoff(), log);
  RebootStep out;
  out.strategy = std::string(slot.strategy());
  const bool blocking = cfg.reboot_strategy == daemon::RebootStrategy::kEtcdLock;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  for (;;) {
    update::RebootDecision gate = slot.Ask(std::chrono::system_clock::now());
    if (gate.reboot_now) {
      out.reboot_now = true;
      break;
    }
    const std::chrono::milliseconds delay =
        gate.error ? gate.retry_in : std::chrono::milliseconds(poll_ms);
    if (gate.wait_reason != st.wait_reason) {
      update::SetWaitReason(st, gate.wait_reason_code, gate.wait_reason);
      BASALT_RETURN_IF_ERROR(store.Save(st));
      log.Info(gate.wait_reason);
    }
    out.wait_reason = gate.wait_reason;
    if (!blocking) return out;
    if (wait_seconds > 0 && std::chrono::steady_clock::now() + delay > deadline) {
      if (gate.error) return std::unexpected(*gate.error);
      return out;
    }
    std::this_thread::sleep_for(delay);
  }
  out.wait_reason.clear();
  if (!st.wait_reason.empty()) {
    update::ClearWaitReason(st);
    BASALT_RETURN_IF_ERROR(store.Save(st));
  }
  return out;
}

nlohmann::json RebootJson(const RebootStep& r) {
  return {{"strategy", r.strategy}, {"reboot_now", r.reboot_now}, {"wait_reason", r.wait_reason}};
}

void PrintReboot(const RebootStep& r) {
  if (r.reboot_now) {
    fmt::print("reboot: now ({}); after the new slot boots, run `basalt update after-boot`\n",
               r.strategy);
  } else {
    fmt::print("reboot: not yet ({}): {}\n", r.strategy, r.wait_reason);
  }
}

// Both slots, for status in text and JSON, through the daemon and offline alike.
nlohmann::json SlotsJson(const std::vector<update::SlotView>& slots) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& v : slots) {
    j.push_back({{"slot", v.slot},
                 {"version", v.version},
                 {"health", v.health},
                 {"tries", v.tries},
                 {"current", v.current},
                 {"next", v.next}});
  }
  return j;
}

void PrintSlotsText(const std::vector<update::SlotView>& slots) {
  for (const auto& v : slots) {
    std::string marks;
    if (v.current) marks += ", current";
    if (v.next) marks += ", next boot";
    fmt::print(
        "slot {}: {} {}{}{}\n", v.slot, v.version.empty() ? "(no entry)" : v.version, v.health,
        v.health == "pending" ? fmt::format(" ({} tries left)", v.tries) : std::string(), marks);
  }
}

nlohmann::json StateJson(const update::UpdateState& s, const std::string& current_version = "",
                         const std::string& channel = "") {
  nlohmann::json j = update::MetricsJson(update::MetricsOf(s, current_version, channel));
  j.update(nlohmann::json{
      {"state", update::PhaseName(s.phase)},
      {"version", s.version},
      {"from_version", s.from_version},
      {"target_slot", s.target_slot},
      {"usr_root_hash", s.usr_root_hash},
      {"fell_back_to_full", s.fell_back_to_full},
      {"downloaded_bytes", s.downloaded_bytes},
      {"last_error", s.last_error},
      {"last_error_code", s.last_error_code},
      {"wait_reason", s.wait_reason},
      {"wait_reason_code", s.wait_reason_code},
      {"last_check", s.last_check},
      {"rolled_back_releases", s.rolled_back_releases},
  });
  if (!s.measured_boot.code.empty()) {
    j["measured_boot"] = {{"code", s.measured_boot.code},
                          {"message", s.measured_boot.message},
                          {"pcr11", s.measured_boot.pcr11}};
  }
  if (s.fell_back_to_full) j["fallback_reason"] = s.fallback_reason;
  if (s.payload) {
    j["payload"] = {{"kind", s.payload->delta ? "delta" : "full"},
                    {"url", s.payload->url},
                    {"size", s.payload->size},
                    {"sha256", s.payload->sha256}};
  }
  return j;
}

void PrintStateText(const update::UpdateState& s) {
  fmt::print("state: {}\n", update::PhaseName(s.phase));
  if (!s.version.empty()) {
    fmt::print("update: {} -> {} in slot {}\n", s.from_version, s.version, s.target_slot);
  }
  if (s.payload) {
    fmt::print("payload: {} ({} bytes){}\n", s.payload->delta ? "delta" : "full", s.payload->size,
               s.fell_back_to_full ? ", after the delta failed to apply" : "");
  }
  if (s.fell_back_to_full) fmt::print("fallback: {}\n", s.fallback_reason);
  if (!s.wait_reason.empty()) fmt::print("waiting: {}\n", s.wait_reason);
  if (!s.last_error.empty()) fmt::print("last error: {}\n", s.last_error);
  if (!s.last_check.empty()) fmt::print("last check: {}\n", s.last_check);
  for (const auto& v : s.rolled_back_releases)
    fmt::print("rolled back (skipped): {}\n", v);
}

int RunApply(const ApplyArgs& a) {
  if (a.disk.empty()) return RunDaemonCall("Apply", a.to, true, a.json);
  auto loaded = LoadConfigFile(a.config);
  if (!loaded) return ReportError(loaded.error());
  daemon::UpdateConfig cfg = *loaded;
  const bool have_config = !a.config.empty();
  // Flags win over the config file.
  if (!a.repo.empty()) cfg.server = a.repo;
  if (!a.channel.empty()) cfg.channel = a.channel;
  // The flag may demand more signatures than the host's config, never fewer.
  if (a.threshold != 0 && a.threshold < cfg.threshold) {
    return ReportError(
        Error(ErrorKind::kPolicy, fmt::format("--threshold {} is below THRESHOLD={} in {}",
                                              a.threshold, cfg.threshold, a.config)));
  }
  if (a.threshold != 0) cfg.threshold = a.threshold;
  for (const auto& [name, value] :
       {std::pair{"--repo (or SERVER in --config)", cfg.server},
        std::pair{"--channel (or --config)", have_config ? cfg.channel : a.channel},
        std::pair{"--keys (or --root-file)", a.root_file.empty() ? a.keys : a.root_file},
        std::pair{"--state", a.state}}) {
    if (value.empty()) return UsageError(fmt::format("{} is required with --disk", name));
  }
  // As basalt-updated's Apply: a malformed --to is invalid input (3) before anything is opened.
  if (!a.to.empty()) {
    if (auto v = repo::CheckVersion(a.to, "--to"); !v) return ReportError(v.error());
  }
  StderrLogger log(a.runner->LogLevelOr(a.json ? LogLevel::kWarning : LogLevel::kInfo));
  if (!a.root_file.empty() && !std::filesystem::exists(a.root_file)) {
    return ReportError(
        Error(ErrorKind::kNotFound, fmt::format("--root-file {}: no such file", a.root_file)));
  }
  // --root-file: roles and rotation from the repository's root (the newest accepted root is kept
  // in --state); else every key in --keys signs everything.
  auto trust = update::HostTrust::Load({.keys_dir = a.keys,
                                        .root_file = a.root_file,
                                        .state_dir = a.state,
                                        .min_threshold = cfg.threshold});
  if (!trust) return ReportError(trust.error());
  if (!trust->load_warning().empty()) log.Warn(trust->load_warning());
  auto target = update::OpenDiskImageTarget(a.disk);
  if (!target) return ReportError(target.error());
  // The daemon's time rules (METADATA_TIMEOUT, DOWNLOAD_MIN_RATE: defaults, or --config).
  http::FetchOptions fo = update::FetchOptionsFor(cfg);
  fo.stall_seconds = a.stall_seconds;
  auto fetcher = http::MakeCurlFetcher(fo);
  auto source = update::MakeUpdateSource(cfg, *fetcher, *trust);
  if (!source) return ReportError(source.error());
  update::StateStore store(a.state);
  const std::string current = ActiveVersion(**target, log);
  if (have_config) {
    update::WriteMetricsOnSave(
        store, update::MetricsPathFor(cfg, a.state), [current] { return current; }, cfg.channel,
        log);
  }

  update::FlowOptions fl;
  fl.channel = cfg.channel;
  fl.machine_id = a.machine_id;
  fl.boot_id = BootId(log);
  if (!a.to.empty()) {
    fl.pin = a.to;
    fl.forced = true;
  } else if (have_config) {
    fl.pin = cfg.pin;
  }
  fl.threshold = cfg.threshold;
  fl.tries = a.tries;
  fl.extra_cmdline = a.kernel_cmdline;
  fl.download.retry.initial = std::chrono::milliseconds(a.retry_initial_ms);
  fl.download.retry.max_attempts = a.max_attempts;
  fl.checkpoint_interval = std::chrono::milliseconds(a.checkpoint_ms);
  const bool tty = a.runner->ShowProgress(a.json);
  std::unique_ptr<ProgressBar> bar;
  update::Phase bar_phase = update::Phase::kIdle;
  fl.progress = [&](update::Phase p, uint64_t done, uint64_t total) {
    if (!tty) return;
    if (!bar || bar_phase != p) {
      if (bar) bar->Finish();
      bar = std::make_unique<ProgressBar>(std::string(update::PhaseName(p)), total, true);
      bar_phase = p;
    }
    bar->Update(done);
  };
  ReportedOnceLogger flow_log(log);
  update::UpdateFlow flow(**source, *fetcher, *trust, **target, store, flow_log, fl);
  auto r = flow.Run();
  if (bar) bar->Finish();
  if (!r) return ReportError(r.error());
  update::UpdateState st = *r;
  std::optional<RebootStep> reboot;
  if (have_config && st.phase == update::Phase::kUpdatedNeedReboot) {
    auto step = RunRebootStep(cfg, a.machine_id, store, st, a.reboot_wait, a.lock_poll_ms, log);
    if (!step) return ReportError(step.error());
    reboot = *step;
  }
  if (a.json) {
    nlohmann::json j = StateJson(st, current, cfg.channel);
    if (reboot) j["reboot"] = RebootJson(*reboot);
    PrintJson(j);
  } else {
    PrintStateText(st);
    if (reboot) PrintReboot(*reboot);
  }
  return kExitOk;
}

// The offline stand-in for what basalt-updated does after a reboot, through the daemon's own
// after-boot steps: the image "booted" the updated slot and it passed its health checks (mark it
// good), or it did not and the bootloader fell back (--rolled-back). Either way the reboot slot
// is given back and an Omaha server hears the outcome. Idempotent: a rerun after a crash only
// gives the slot back again.
int RunAfterBoot(const AfterBootArgs& a) {
  for (const auto& [name, value] : {std::pair{"--disk", a.disk}, std::pair{"--state", a.state}}) {
    if (value.empty()) return UsageError(fmt::format("{} is required", name));
  }
  auto loaded = LoadConfigFile(a.config);
  if (!loaded) return ReportError(loaded.error());
  const daemon::UpdateConfig& cfg = *loaded;
  StderrLogger log(a.runner->LogLevelOr(a.json ? LogLevel::kWarning : LogLevel::kInfo));
  auto target = update::OpenDiskImageTarget(a.disk);
  if (!target) return ReportError(target.error());
  update::StateStore store(a.state);
  auto loaded_state = store.Load();
  if (!loaded_state) return ReportError(loaded_state.error());
  update::UpdateState st = *loaded_state;
  auto current = std::make_shared<std::string>(ActiveVersion(**target, log));
  if (!a.config.empty()) {
    update::WriteMetricsOnSave(
        store, update::MetricsPathFor(cfg, a.state), [current] { return *current; }, cfg.channel,
        log);
  }
  auto coordinator = update::MakeRebootCoordinator(cfg, a.machine_id, &log);
  if (!coordinator) return ReportError(coordinator.error());
  update::RebootSlot reboot_slot(**coordinator, LockBackoff(), log);
  auto no_keys = update::HostTrust::FromKeyring(Keyring(), 1);  // events only: nothing verified
  auto fetcher = http::MakeCurlFetcher();
  std::unique_ptr<update::UpdateSource> source;
  if (!cfg.server.empty()) {
    auto made = update::MakeUpdateSource(cfg, *fetcher, no_keys);
    if (!made) return ReportError(made.error());
    source = std::move(*made);
  }
  const bool staged =
      st.phase == update::Phase::kUpdatedNeedReboot || st.phase == update::Phase::kPendingHealth;
  if (!staged && st.phase != update::Phase::kGood && st.phase != update::Phase::kRolledBack) {
    return ReportError(Failf(ErrorKind::kPolicy, "no update is staged or booted (state {})",
                             update::PhaseName(st.phase))
                           .error());
  }
  if (staged) {
    update::AfterBootSteps steps(update::AfterBootParts{
        .target = **target,
        .source = source.get(),
        .reboot_slot = reboot_slot,
        .log = log,
        .persist = [&store](const update::UpdateState& s) { return store.Save(s); },
        .facts =
            [&] {
              update::HostFacts facts;
              facts.current_version = *current;
              facts.channel = cfg.channel;
              facts.machine_id = a.machine_id;
              facts.boot_id = BootId(log);
              return facts;
            },
    });
    auto active = (*target)->ActiveSlot();
    if (!active) return ReportError(active.error());
    if (!a.rolled_back) {
      if (boot::SlotName(*active) != st.target_slot) {
        return ReportError(Failf(ErrorKind::kPolicy,
                                 "the image boots slot {} next, not the updated slot {}",
                                 boot::SlotName(*active), st.target_slot)
                               .error());
      }
      // The image booted the new slot (the daemon's pending-health) and it passed its checks.
      if (st.phase == update::Phase::kUpdatedNeedReboot) update::BeginPendingHealth(st);
      *current = st.version;
      if (auto m = steps.MarkGood(st, *active); !m) return ReportError(m.error());
    } else {
      // What the bootloader does when the new slot's tries run out: the old slot boots again.
      if (boot::SlotName(*active) == st.target_slot) {
        if (auto rb = (*target)->boot().Rollback(); !rb) return ReportError(rb.error());
      }
      auto booted = (*target)->ActiveSlot();
      if (!booted) return ReportError(booted.error());
      *current = ActiveVersion(**target, log);
      if (auto r = steps.RolledBack(st, *booted); !r) return ReportError(r.error());
    }
  }
  // Give the reboot slot back (again, on a rerun); etcd unreachable means retry with backoff.
  if (!staged || reboot_slot.release_pending()) {
    auto released = reboot_slot.ReleaseWithin(
        std::chrono::seconds(a.reboot_wait),
        [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); });
    if (!released) return ReportError(released.error());
  }
  if (a.json) {
    PrintJson(StateJson(st, *current, cfg.channel));
  } else {
    PrintStateText(st);
  }
  return kExitOk;
}

// Offline mark-good: bless the slot a disk image boots next, as the health unit does on a host,
// but never a slot that has not booted: an update staged by `apply --disk` (state
// updated-need-reboot, the bootloader has not tried it) is refused, since blessing it would take
// away the bootloader's fallback before the slot ever ran. `after-boot` is the way to say the
// new slot booted.
int RunMarkGoodOffline(const std::string& disk, const std::string& state_dir, bool json) {
  if (state_dir.empty()) return UsageError("--state is required with --disk");
  auto target = update::OpenDiskImageTarget(disk);
  if (!target) return ReportError(target.error());
  update::StateStore store(state_dir);
  auto loaded = store.Load();
  if (!loaded) return ReportError(loaded.error());
  update::UpdateState st = *loaded;
  auto active = (*target)->ActiveSlot();
  if (!active) return ReportError(active.error());
  auto bs = (*target)->boot().GetStatus();
  if (!bs) return ReportError(bs.error());
  const boot::SlotStatus& slot = bs->slots[boot::SlotIndex(*active)];
  const std::string name(boot::SlotName(*active));
  if (st.phase == update::Phase::kUpdatedNeedReboot && st.target_slot == name) {
    return ReportError(Error(
        ErrorKind::kPolicy,
        fmt::format("slot {} (version {}) has never booted: it was staged and the bootloader has "
                    "not tried it yet ({} tries left); marking it good would drop the fallback. "
                    "Boot it first (`basalt update after-boot` records that it came up)",
                    name, slot.version.empty() ? "unknown" : slot.version, slot.attributes.tries)));
  }
  if (slot.health == boot::SlotHealth::kBad) {
    return ReportError(Error(ErrorKind::kPolicy,
                             fmt::format("slot {} is marked bad; it cannot be blessed", name)));
  }
  if (auto m = (*target)->boot().MarkGood(*active); !m) return ReportError(m.error());
  if (st.phase == update::Phase::kPendingHealth && st.target_slot == name) {
    st.phase = update::Phase::kGood;
    update::ClearWaitReason(st);
    if (auto s = store.Save(st); !s) return ReportError(s.error());
  }
  auto views = update::ReadSlotViews(**target);
  if (!views) return ReportError(views.error());
  if (json) {
    nlohmann::json j = StateJson(st);
    j["slots"] = SlotsJson(*views);
    PrintJson(j);
  } else {
    PrintSlotsText(*views);
  }
  return kExitOk;
}

int RunStatus(const std::string& state_dir, const std::string& disk, bool json) {
  if (state_dir.empty()) {
    auto st = update::GetDaemonStatus();
    if (!st) return ReportError(st.error());
    return PrintDaemon(*st, json);
  }
  update::StateStore store(state_dir);
  auto s = store.Load();
  if (!s) return ReportError(s.error());
  std::string current;
  std::optional<std::vector<update::SlotView>> slots;
  if (!disk.empty()) {
    auto target = update::OpenDiskImageTarget(disk);
    if (!target) return ReportError(target.error());
    StderrLogger log(LogLevel::kWarning);
    current = ActiveVersion(**target, log);
    // A staged image boots the new slot next, but has not "run" it yet: the reboot step
    // (after-boot) makes the new version current, as the metrics file says.
    if (s->phase == update::Phase::kUpdatedNeedReboot && !s->from_version.empty()) {
      current = s->from_version;
    }
    auto views = update::ReadSlotViews(**target);
    if (!views) return ReportError(views.error());
    slots = *views;
  }
  if (json) {
    nlohmann::json j = StateJson(*s, current);
    if (slots) j["slots"] = SlotsJson(*slots);
    PrintJson(j);
  } else {
    PrintStateText(*s);
    if (slots) PrintSlotsText(*slots);
  }
  return kExitOk;
}

nlohmann::json DaemonJson(const update::DaemonStatus& s) {
  // The counters go through the metrics struct, so the names and forms match the offline status.
  fleet::UpdateMetrics m;
  m.current_version = s.current_version;
  m.next_version = s.next_version;
  m.channel = s.channel;
  if (auto t = ParseTime(s.last_check, "LastCheck"); t) m.last_check = *t;
  if (auto t = ParseTime(s.last_success, "LastSuccess"); t) m.last_success = *t;
  m.downloaded_delta_bytes = s.downloaded_delta_bytes;
  m.downloaded_full_bytes = s.downloaded_full_bytes;
  m.failures = s.failures;
  m.rollbacks = s.rollbacks;
  nlohmann::json j = update::MetricsJson(m);
  j.update(nlohmann::json{{"state", s.state},
                          {"progress", s.progress},
                          {"busy", s.busy},
                          {"current_slot", s.current_slot},
                          {"channel", s.channel},
                          {"last_error", s.last_error},
                          {"last_error_code", s.last_error_code},
                          {"wait_reason", s.wait_reason},
                          {"wait_reason_code", s.wait_reason_code},
                          {"slots", SlotsJson(s.slots)},
                          {"measured_boot",
                           {{"code", s.measured_boot},
                            {"message", s.measured_boot_message},
                            {"pcr11", s.measured_pcr11}}}});
  return j;
}

void PrintDaemonText(const update::DaemonStatus& s) {
  fmt::print("version: {} (slot {})\n", s.current_version.empty() ? "unknown" : s.current_version,
             s.current_slot.empty() ? "?" : s.current_slot);
  fmt::print("channel: {}\n", s.channel);
  fmt::print("state: {}{}\n", s.state,
             s.busy && s.progress > 0 ? fmt::format(" ({:.0f} %)", s.progress * 100) : "");
  if (!s.next_version.empty()) fmt::print("next: {}\n", s.next_version);
  PrintSlotsText(s.slots);
  if (!s.wait_reason.empty()) fmt::print("waiting: {}\n", s.wait_reason);
  if (!s.last_error.empty()) fmt::print("last error: {}\n", s.last_error);
  if (!s.last_check.empty()) fmt::print("last check: {}\n", s.last_check);
  if (!s.measured_boot.empty()) {
    fmt::print("measured boot: {}: {}\n", s.measured_boot, s.measured_boot_message);
  }
}

int PrintDaemon(const update::DaemonStatus& s, bool json) {
  if (json) {
    PrintJson(DaemonJson(s));
  } else {
    PrintDaemonText(s);
  }
  return kExitOk;
}

// Follows the daemon until its operation finishes, with a progress bar on a terminal. The run
// failed when the daemon records this run's number as the last failed one: then LastErrorCode
// gives the exit code (the offline table) and LastError the one `basalt: error:` line. A
// last_error an earlier run left behind does not fail this one.
int FollowDaemon(bool json) {
  const bool tty = !json && ProgressBar::StderrIsTerminal();
  std::unique_ptr<ProgressBar> bar;
  std::string bar_state;
  std::optional<uint64_t> operation;
  while (true) {
    auto s = update::GetDaemonStatus();
    if (!s) return ReportError(s.error());
    // The call has returned, so the daemon has started our run: the first number read is ours.
    if (!operation) operation = s->operation;
    if (tty && s->busy) {
      if (!bar || bar_state != s->state) {
        if (bar) bar->Finish();
        bar = std::make_unique<ProgressBar>(s->state, 1000, true, ProgressBar::Unit::kFraction);
        bar_state = s->state;
      }
      bar->Update(static_cast<uint64_t>(s->progress * 1000));
    }
    if (!s->busy) {
      // Properties are read one by one: read them again now that the operation is over.
      s = update::GetDaemonStatus();
      if (!s) return ReportError(s.error());
      if (bar) bar->Finish();
      const bool failed = *operation != 0 && s->failed_operation == *operation;
      if (json) PrintJson(DaemonJson(*s));
      if (!failed) {
        if (!json) PrintDaemonText(*s);
        return kExitOk;
      }
      const std::string code = s->last_error_code.empty() ? "internal" : s->last_error_code;
      return ReportError(Error(ErrorKindForCode(code), s->last_error.empty()
                                                           ? "the update failed (" + code + ")"
                                                           : s->last_error)
                             .WithCode(code));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int RunDaemonCall(const std::string& method, const std::string& arg, bool follow, bool json) {
  if (auto s = update::CallDaemon(method, arg); !s) return ReportError(s.error());
  if (follow) return FollowDaemon(json);
  auto st = update::GetDaemonStatus();
  if (!st) return ReportError(st.error());
  return PrintDaemon(*st, json);
}

int RunWatch(bool json) {
  std::optional<update::DaemonStatus> last;
  while (true) {
    auto s = update::GetDaemonStatus();
    if (!s) return ReportError(s.error());
    if (!last || !(*last == *s)) {
      if (json) {
        fmt::print("{}\n",
                   DaemonJson(*s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      } else {
        fmt::print("{} {}{}{}{}\n", FormatTime(Now()), s->state,
                   s->busy ? fmt::format(" {:.0f} %", s->progress * 100) : "",
                   s->wait_reason.empty() ? "" : " — " + s->wait_reason,
                   s->last_error.empty() ? "" : " — error: " + s->last_error);
      }
      std::fflush(stdout);
      last = *s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace

void AddUpdateCommands(CLI::App& app, CommandRunner& runner) {
  auto* cmd = app.add_subcommand("update", "Update a host or a disk image to a channel's release");
  cmd->require_subcommand(1);

  auto a = std::make_shared<ApplyArgs>();
  auto* apply = cmd->add_subcommand(
      "apply",
      "Install the channel's update: through basalt-updated (D-Bus), or with --disk run the same "
      "flow (check, download, apply, verify, finalize, flip) on a disk image without the daemon; "
      "rerun with the same --state to resume");
  apply->add_option("--disk", a->disk, "Offline: disk image file (or whole-disk device) to update");
  apply->add_option("--repo", a->repo,
                    "Offline: repository (http(s)://, file:// URL or directory)");
  apply->add_option("--channel", a->channel, "Offline: channel to follow");
  apply->add_option("--keys", a->keys,
                    "Offline: trusted public keys, a directory of *.pem or one PEM file");
  apply->add_option("--root-file", a->root_file,
                    "Offline: the repository's first trusted root document (roles and rotation; "
                    "the newest root is kept in --state)");
  apply->add_option("--state-dir,--state", a->state,
                    "Offline: state directory (resume point, downloads)");
  apply->add_option("--to", a->to,
                    "Install exactly this version (a pin; retries a rolled-back one)");
  apply->add_option("--machine-id", a->machine_id, "Machine id for the rollout wave")
      ->capture_default_str();
  apply->add_option("--kernel-cmdline", a->kernel_cmdline,
                    "Extra kernel command line for the new slot's boot entry");
  apply
      ->add_option("--threshold", a->threshold,
                   "Distinct trusted signatures required (default: THRESHOLD in --config, else "
                   "1; never below THRESHOLD)")
      ->check(CLI::Range(1, 64));
  apply->add_option("--tries", a->tries, "Boot attempts of the new slot before falling back")
      ->capture_default_str()
      ->check(CLI::Range(1, 15));
  apply
      ->add_option("--stall-timeout", a->stall_seconds,
                   "Seconds without data before a transfer counts as stalled and is resumed")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  apply
      ->add_option("--retry-initial-ms", a->retry_initial_ms,
                   "First retry delay after a network fault (doubles up to 5 min)")
      ->capture_default_str()
      ->check(CLI::Range(1, 600000));
  apply
      ->add_option("--max-attempts", a->max_attempts,
                   "Download attempts before giving up until the next run (0: unlimited)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  apply
      ->add_option("--checkpoint-interval-ms", a->checkpoint_ms,
                   "How often the apply checkpoint is made durable")
      ->capture_default_str()
      ->check(CLI::Range(1, 600000));
  apply->add_option("--config", a->config,
                    "Offline: an update.conf (PROTOCOL, SERVER, CHANNEL, PIN, REBOOT_STRATEGY, "
                    "ETCD_*, OMAHA_APP_ID, METRICS_PATH); once the update is staged, the reboot "
                    "strategy is asked as the daemon would (etcd-lock blocks until this machine "
                    "holds a slot)");
  apply
      ->add_option("--reboot-wait", a->reboot_wait,
                   "Offline with --config: seconds the reboot step may wait (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0L, 86400L * 365));
  apply
      ->add_option("--lock-poll-ms", a->lock_poll_ms,
                   "Offline with etcd-lock: how often a full group is asked again")
      ->capture_default_str()
      ->check(CLI::Range(10L, 600000L));
  apply->add_flag("--json", a->json, "Print the resulting state as JSON");
  apply->callback([a, &runner] {
    a->runner = &runner;
    runner.Set([a] { return RunApply(*a); });
  });

  auto ab = std::make_shared<AfterBootArgs>();
  auto* after_boot = cmd->add_subcommand(
      "after-boot",
      "Offline: what basalt-updated does after the reboot, for a disk image: mark the updated "
      "slot good (or, with --rolled-back, record that the bootloader fell back), tell an Omaha "
      "server, and give the reboot slot (etcd-lock) back");
  after_boot->add_option("--disk", ab->disk, "Disk image whose staged update booted")->required();
  after_boot
      ->add_option("--state-dir,--state", ab->state, "The state directory `apply --disk` used")
      ->required();
  after_boot->add_option("--config", ab->config, "The update.conf `apply --disk` used");
  after_boot->add_option("--machine-id", ab->machine_id, "Machine id (the etcd lock holder)")
      ->capture_default_str();
  after_boot->add_flag("--rolled-back", ab->rolled_back,
                       "The new slot did not come up: the old one boots again");
  after_boot
      ->add_option("--reboot-wait", ab->reboot_wait,
                   "Seconds to keep retrying the slot's release while etcd is unreachable (0: "
                   "no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0L, 86400L * 365));
  after_boot->add_flag("--json", ab->json, "Print the resulting state as JSON");
  after_boot->callback([ab, &runner] {
    ab->runner = &runner;
    runner.Set([ab] { return RunAfterBoot(*ab); });
  });

  auto state_dir = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* status = cmd->add_subcommand(
      "status", "Version, slot, channel, state, why it waits, last error (from basalt-updated)");
  status->add_option("--state-dir,--state", *state_dir,
                     "Offline: read this state directory instead");
  auto status_disk = std::make_shared<std::string>();
  status->add_option("--disk", *status_disk,
                     "Offline with --state: the disk image, for its current version");
  status->add_flag("--json", *json, "JSON output");
  status->callback([state_dir, status_disk, json, &runner] {
    runner.Set(
        [state_dir, status_disk, json] { return RunStatus(*state_dir, *status_disk, *json); });
  });

  auto check_json = std::make_shared<bool>(false);
  auto* check = cmd->add_subcommand("check", "Ask basalt-updated to check its channel now");
  check->add_flag("--json", *check_json, "JSON output");
  check->callback([check_json, &runner] {
    runner.Set([check_json] { return RunDaemonCall("Check", "", true, *check_json); });
  });

  for (auto [name, method, help] :
       {std::tuple{"rollback", "Rollback", "Make the other (good) slot boot next"},
        std::tuple{"cancel", "Cancel", "Stop the running update at the next safe point"}}) {
    auto j = std::make_shared<bool>(false);
    auto* sub = cmd->add_subcommand(name, help);
    sub->add_flag("--json", *j, "JSON output");
    std::string m = method;
    sub->callback(
        [j, m, &runner] { runner.Set([j, m] { return RunDaemonCall(m, "", false, *j); }); });
  }

  auto mg_json = std::make_shared<bool>(false);
  auto mg_disk = std::make_shared<std::string>();
  auto mg_state = std::make_shared<std::string>();
  auto* mark_good = cmd->add_subcommand(
      "mark-good",
      "Bless the running slot (the health unit does this); with --disk, the slot a disk image "
      "boots next, refused for a slot that has never booted");
  mark_good->add_option("--disk", *mg_disk, "Offline: the disk image");
  mark_good->add_option("--state-dir,--state", *mg_state,
                        "Offline: the state directory `apply --disk` used");
  mark_good->add_flag("--json", *mg_json, "JSON output");
  mark_good->callback([mg_json, mg_disk, mg_state, &runner] {
    runner.Set([mg_json, mg_disk, mg_state] {
      if (mg_disk->empty()) return RunDaemonCall("MarkGood", "", false, *mg_json);
      return RunMarkGoodOffline(*mg_disk, *mg_state, *mg_json);
    });
  });

  auto watch_json = std::make_shared<bool>(false);
  auto* watch = cmd->add_subcommand("watch", "Print basalt-updated's state on every change");
  watch->add_flag("--json", *watch_json, "One JSON object per line");
  watch->callback(
      [watch_json, &runner] { runner.Set([watch_json] { return RunWatch(*watch_json); }); });
}

}  // namespace basalt
