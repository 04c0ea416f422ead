#include "update-engine/daemon/update_cli.h"

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <thread>
#include <tuple>

#include "common/keyring.h"
#include "common/log.h"
#include "common/progress.h"
#include "update-engine/daemon/repo_update_source.h"
#include "update-engine/daemon/state_store.h"
#include "update-engine/daemon/update_client.h"
#include "update-engine/daemon/update_flow.h"
#include "update-engine/daemon/update_target.h"
#include "update-engine/repo/fetcher.h"
#include "update-engine/repo/time_util.h"

namespace basalt {
namespace {

int RunDaemonCall(const std::string& method, const std::string& arg, bool follow, bool json);
int PrintDaemon(const update::DaemonStatus& s, bool json);

struct ApplyArgs {
  std::string disk;
  std::string repo;
  std::string channel;
  std::string keys;
  std::string state;
  std::string to;
  std::string machine_id = "basalt-offline";
  std::string kernel_cmdline;
  size_t threshold = 1;
  int tries = 3;
  long stall_seconds = 60;
  long retry_initial_ms = 1000;
  int max_attempts = 12;
  long checkpoint_ms = 1000;
  bool json = false;
};

nlohmann::json StateJson(const update::UpdateState& s) {
  nlohmann::json j = {
      {"state", update::PhaseName(s.phase)},
      {"version", s.version},
      {"from_version", s.from_version},
      {"target_slot", s.target_slot},
      {"usr_root_hash", s.usr_root_hash},
      {"fell_back_to_full", s.fell_back_to_full},
      {"downloaded_bytes", s.downloaded_bytes},
      {"last_error", s.last_error},
      {"wait_reason", s.wait_reason},
      {"last_check", s.last_check},
      {"rolled_back_releases", s.rolled_back_releases},
  };
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
  for (const auto& [name, value] : {std::pair{"--repo", a.repo}, std::pair{"--channel", a.channel},
                                    std::pair{"--keys", a.keys}, std::pair{"--state", a.state}}) {
    if (value.empty()) {
      return ReportError(
          Error(ErrorKind::kInvalidInput, fmt::format("{} is required with --disk", name)));
    }
  }
  StderrLogger log(a.json ? LogLevel::kWarning : LogLevel::kInfo);
  auto keys = Keyring::LoadDirectory(a.keys);
  if (!keys) return ReportError(keys.error());
  auto target = update::OpenDiskImageTarget(a.disk);
  if (!target) return ReportError(target.error());
  repo::FetchOptions fo;
  fo.stall_seconds = a.stall_seconds;
  auto fetcher = repo::MakeCurlFetcher(fo);
  update::RepositoryUpdateSource source(*fetcher, a.repo, *keys, a.threshold);
  update::StateStore store(a.state);

  update::FlowOptions fl;
  fl.channel = a.channel;
  fl.machine_id = a.machine_id;
  if (!a.to.empty()) {
    fl.pin = a.to;
    fl.forced = true;
  }
  fl.threshold = a.threshold;
  fl.tries = a.tries;
  fl.extra_cmdline = a.kernel_cmdline;
  fl.download.retry.initial = std::chrono::milliseconds(a.retry_initial_ms);
  fl.download.retry.max_attempts = a.max_attempts;
  fl.checkpoint_interval = std::chrono::milliseconds(a.checkpoint_ms);
  const bool tty = !a.json && ProgressBar::StderrIsTerminal();
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
  update::UpdateFlow flow(source, *fetcher, *keys, **target, store, log, fl);
  auto r = flow.Run();
  if (bar) bar->Finish();
  if (!r) return ReportError(r.error());
  if (a.json) {
    PrintJson(StateJson(*r));
  } else {
    PrintStateText(*r);
  }
  return kExitOk;
}

int RunStatus(const std::string& state_dir, bool json) {
  if (state_dir.empty()) {
    auto st = update::GetDaemonStatus();
    if (!st) return ReportError(st.error());
    return PrintDaemon(*st, json);
  }
  update::StateStore store(state_dir);
  auto s = store.Load();
  if (!s) return ReportError(s.error());
  if (json) {
    PrintJson(StateJson(*s));
  } else {
    PrintStateText(*s);
  }
  return kExitOk;
}

nlohmann::json DaemonJson(const update::DaemonStatus& s) {
  return {{"state", s.state},
          {"progress", s.progress},
          {"busy", s.busy},
          {"current_version", s.current_version},
          {"current_slot", s.current_slot},
          {"next_version", s.next_version},
          {"channel", s.channel},
          {"last_check", s.last_check},
          {"last_error", s.last_error},
          {"wait_reason", s.wait_reason}};
}

void PrintDaemonText(const update::DaemonStatus& s) {
  fmt::print("version: {} (slot {})\n", s.current_version.empty() ? "unknown" : s.current_version,
             s.current_slot.empty() ? "?" : s.current_slot);
  fmt::print("channel: {}\n", s.channel);
  fmt::print("state: {}{}\n", s.state,
             s.busy && s.progress > 0 ? fmt::format(" ({:.0f} %)", s.progress * 100) : "");
  if (!s.next_version.empty()) fmt::print("next: {}\n", s.next_version);
  if (!s.wait_reason.empty()) fmt::print("waiting: {}\n", s.wait_reason);
  if (!s.last_error.empty()) fmt::print("last error: {}\n", s.last_error);
  if (!s.last_check.empty()) fmt::print("last check: {}\n", s.last_check);
}

int PrintDaemon(const update::DaemonStatus& s, bool json) {
  if (json) {
    PrintJson(DaemonJson(s));
  } else {
    PrintDaemonText(s);
  }
  return kExitOk;
}

// Follows the daemon until its operation finishes, with a progress bar on a terminal.
int FollowDaemon(bool json) {
  const bool tty = !json && ProgressBar::StderrIsTerminal();
  std::unique_ptr<ProgressBar> bar;
  std::string bar_state;
  while (true) {
    auto s = update::GetDaemonStatus();
    if (!s) return ReportError(s.error());
    if (tty && s->busy) {
      if (!bar || bar_state != s->state) {
        if (bar) bar->Finish();
        bar = std::make_unique<ProgressBar>(s->state, 1000, true);
        bar_state = s->state;
      }
      bar->Update(static_cast<uint64_t>(s->progress * 1000));
    }
    if (!s->busy) {
      // Properties are read one by one: read them again now that the operation is over.
      s = update::GetDaemonStatus();
      if (!s) return ReportError(s.error());
      if (bar) bar->Finish();
      PrintDaemon(*s, json);
      return s->last_error.empty() ? kExitOk : kExitFailure;
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
        fmt::print("{}\n", DaemonJson(*s).dump());
      } else {
        fmt::print("{} {}{}{}{}\n", repo::FormatTime(repo::Now()), s->state,
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
  apply->add_option("--keys", a->keys, "Offline: directory of trusted public keys (*.pem)");
  apply->add_option("--state", a->state, "Offline: state directory (resume point, downloads)");
  apply->add_option("--to", a->to,
                    "Install exactly this version (a pin; retries a rolled-back one)");
  apply->add_option("--machine-id", a->machine_id, "Machine id for the rollout wave")
      ->capture_default_str();
  apply->add_option("--kernel-cmdline", a->kernel_cmdline,
                    "Extra kernel command line for the new slot's boot entry");
  apply->add_option("--threshold", a->threshold, "Distinct trusted signatures required")
      ->capture_default_str()
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
  apply->add_flag("--json", a->json, "Print the resulting state as JSON");
  apply->callback([a, &runner] { runner.Set([a] { return RunApply(*a); }); });

  auto state_dir = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* status = cmd->add_subcommand(
      "status", "Version, slot, channel, state, why it waits, last error (from basalt-updated)");
  status->add_option("--state", *state_dir, "Offline: read this state directory instead");
  status->add_flag("--json", *json, "JSON output");
  status->callback([state_dir, json, &runner] {
    runner.Set([state_dir, json] { return RunStatus(*state_dir, *json); });
  });

  auto check_json = std::make_shared<bool>(false);
  auto* check = cmd->add_subcommand("check", "Ask basalt-updated to check its channel now");
  check->add_flag("--json", *check_json, "JSON output");
  check->callback([check_json, &runner] {
    runner.Set([check_json] { return RunDaemonCall("Check", "", true, *check_json); });
  });

  for (auto [name, method, help] :
       {std::tuple{"rollback", "Rollback", "Make the other (good) slot boot next"},
        std::tuple{"mark-good", "MarkGood", "Bless the running slot (the health unit does this)"},
        std::tuple{"cancel", "Cancel", "Stop the running update at the next safe point"}}) {
    auto j = std::make_shared<bool>(false);
    auto* sub = cmd->add_subcommand(name, help);
    sub->add_flag("--json", *j, "JSON output");
    std::string m = method;
    sub->callback(
        [j, m, &runner] { runner.Set([j, m] { return RunDaemonCall(m, "", false, *j); }); });
  }

  auto watch_json = std::make_shared<bool>(false);
  auto* watch = cmd->add_subcommand("watch", "Print basalt-updated's state on every change");
  watch->add_flag("--json", *watch_json, "One JSON object per line");
  watch->callback(
      [watch_json, &runner] { runner.Set([watch_json] { return RunWatch(*watch_json); }); });
}

}  // namespace basalt
