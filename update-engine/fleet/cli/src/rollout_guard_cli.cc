#include "fleet/rollout_guard_cli.h"

#include <iostream>
#include <memory>

#include "common/fd.h"
#include "common/signing.h"
#include "guard/fleet_sample.h"
#include "guard/guard_decision.h"
#include "guard/guard_policy.h"
#include "guard/guard_state.h"
#include "http/fetcher.h"
#include "repo/channel_ops.h"

namespace basalt {
namespace {

using namespace basalt::guard;

struct GuardArgs {
  std::string repo, channel, prometheus, policy, state, expires_in = "30d";
  std::vector<std::string> keys;
  bool dry_run = false, json = false;
};

Result<GuardPolicy> LoadPolicy(const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  auto p = ParseGuardPolicy(text);
  if (!p) return std::unexpected(p.error().WithContext(path));
  return p;
}

Result<std::vector<PrivateKey>> LoadKeys(const std::vector<std::string>& refs) {
  std::vector<PrivateKey> keys;
  for (const auto& r : refs) {
    BASALT_ASSIGN_OR_RETURN(PrivateKey k, PrivateKey::Load(r));
    keys.push_back(std::move(k));
  }
  if (keys.empty()) return Fail(ErrorKind::kInvalidInput, "a change needs --key");
  return keys;
}

int RunGuard(const GuardArgs& a) {
  auto policy = LoadPolicy(a.policy);
  if (!policy) return ReportError(policy.error());
  auto expires = ParseDuration(a.expires_in, "--expires-in");
  if (!expires) return ReportError(expires.error());
  auto keys = a.dry_run ? Result<std::vector<PrivateKey>>() : LoadKeys(a.keys);
  if (!keys) return ReportError(keys.error());
  auto channel = repo::LoadChannelFile(a.repo, a.channel);
  if (!channel) return ReportError(channel.error());
  if (!*channel) {
    return ReportError(Error(ErrorKind::kNotFound,
                             fmt::format("channel {} does not exist in {}", a.channel, a.repo)));
  }
  const repo::Channel& ch = **channel;
  std::string state_path = a.state.empty() ? DefaultGuardStatePath(a.repo, a.channel) : a.state;
  auto saved = LoadGuardState(state_path);
  if (!saved) return ReportError(saved.error());
  TimePoint now = Now();
  GuardState step = CurrentStepRecord(*saved, ch, now);

  http::FetchOptions fo;
  fo.connect_timeout_seconds = 10;
  fo.total_timeout_seconds = 30;
  fo.metadata_timeout_seconds = 30;
  auto fetcher = http::MakeCurlFetcher(fo);
  auto sample = ReadFleetSample(*fetcher, a.prometheus, ch.name, ch.release);
  if (!sample) return ReportError(sample.error());
  GuardDecision d = DecideGuard(*policy, ch, *sample, step.step_started, now);

  bool acted = false;
  if (!a.dry_run) {
    std::optional<repo::ChannelOp> op;
    if (d.action == GuardAction::kPause) {
      op.emplace();
      op->kind = repo::ChannelOpKind::kPause;
    }
    if (d.action == GuardAction::kWiden) {
      // Only the wave's limit: start and duration stay as the operator set them.
      op.emplace();
      op->kind = repo::ChannelOpKind::kRollout;
      op->limit_percent = d.widen_to;
    }
    if (op) {
      auto changed = repo::ChangeChannel(a.repo, ch.name, *op, *keys, now, *expires);
      if (!changed) return ReportError(changed.error().WithContext("rollout guard"));
      acted = true;
      if (d.action == GuardAction::kWiden) step = CurrentStepRecord(std::nullopt, *changed, now);
    }
    // The step's start is kept even when nothing changed: the soak counts from the first run
    // that saw it.
    if (step != saved->value_or(GuardState{})) {
      auto w = SaveGuardState(state_path, step);
      if (!w) return ReportError(w.error());
    }
  }
  std::string did = std::string(GuardActionName(d.action));
  if (a.dry_run && d.action != GuardAction::kNone) did = "would " + did + " (dry run)";
  if (a.json) {
    nlohmann::json j = {{"channel", ch.name},
                        {"release", ch.release},
                        {"action", GuardActionName(d.action)},
                        {"code", d.code},
                        {"reason", d.sentence},
                        {"dry_run", a.dry_run},
                        {"changed", acted},
                        {"step_started", FormatTime(step.step_started)},
                        {"sample",
                         {{"new_hosts", sample->new_hosts},
                          {"new_rollbacks", sample->new_rollbacks},
                          {"new_failing", sample->new_failing},
                          {"old_hosts", sample->old_hosts},
                          {"old_rollbacks", sample->old_rollbacks}}}};
    if (d.widen_to) j["widen_to"] = *d.widen_to;
    if (d.new_bad_percent >= 0) j["new_bad_percent"] = d.new_bad_percent;
    if (d.old_bad_percent >= 0) j["old_bad_percent"] = d.old_bad_percent;
    PrintJson(j);
  } else {
    std::cout << fmt::format("rollout guard: channel {} release {}: {} ({}): {}\n", ch.name,
                             ch.release, did, d.code, d.sentence);
  }
  return kExitOk;
}

}  // namespace

void AddRolloutCommands(CLI::App& app, CommandRunner& runner) {
  auto* rollout = app.add_subcommand("rollout", "Rollouts that watch the fleet");
  rollout->require_subcommand(1);
  auto* cmd = rollout->add_subcommand(
      "guard",
      "Read a channel's rollout health from Prometheus; pause it when the new release goes bad, "
      "widen it one policy step when it is healthy");
  auto a = std::make_shared<GuardArgs>();
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  cmd->add_option("--channel", a->channel, "Channel name")->required();
  cmd->add_option("--key", a->keys,
                  "Signing key for the channel change: PEM file or OpenSSL store URI "
                  "(repeatable; not needed with --dry-run)");
  cmd->add_option("--prometheus", a->prometheus,
                  "Prometheus server URL (http://127.0.0.1:9090) that scrapes the hosts' "
                  "node-exporters")
      ->required();
  cmd->add_option("--policy", a->policy, "Policy file (JSON: steps, soak, thresholds)")->required();
  cmd->add_option("--step-file", a->state,
                  "Where the current step's start is kept (default <repo>.guard-<channel>.json)");
  cmd->add_option("--expires-in", a->expires_in,
                  "How long a changed channel document stays valid (default 30d)");
  cmd->add_flag("--dry-run", a->dry_run, "Only report what would be done; change nothing");
  cmd->add_flag("--json", a->json, "Machine-readable output");
  cmd->callback([&runner, a] { runner.Set([a] { return RunGuard(*a); }); });
}

}  // namespace basalt
