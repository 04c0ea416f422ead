#include "repo/repo_cli.h"

#include <iostream>
#include <memory>

#include "common/fd.h"
#include "common/log.h"
#include "common/signing.h"
#include "http/fetcher.h"
#include "repo/channel_ops.h"
#include "repo/decision.h"
#include "repo/dsse.h"
#include "repo/names.h"
#include "repo/payload_maker.h"
#include "repo/publish.h"
#include "repo/repo_source.h"
#include "repo/repo_verify.h"
#include "repo/root.h"
#include "signing_keys.h"

namespace basalt {
namespace {
using namespace basalt::repo;

// What a host trusts: the keys in keys_dir, or the root it ships (root_file) followed through the
// repository's newer roots, as the host would (in memory only).
Result<Trust> HostSideTrust(const std::string& keys_dir, const std::string& root_file,
                            size_t threshold, RepositorySource& source, TimePoint now) {
  if (root_file.empty()) {
    if (keys_dir.empty()) return Fail(ErrorKind::kInvalidInput, "give --keys or --root-file");
    BASALT_ASSIGN_OR_RETURN(Keyring keys, Keyring::Load(keys_dir));
    return Trust::FromKeyring(keys, threshold);
  }
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(root_file));
  BASALT_ASSIGN_OR_RETURN(SignedRoot first, OpenTrustedRoot(text, root_file));
  BASALT_ASSIGN_OR_RETURN(
      RootUpdate update,
      UpdateRoot(first, source, now, [](const SignedRoot&) -> Status { return {}; }));
  if (update.refusal) {
    return Failf(update.refusal->kind, "repository root refused ({}): {}", update.refusal->code,
                 update.refusal->reason);
  }
  return Trust::FromRoot(update.root.root, threshold);
}

Result<TimePoint> ParseTimeArg(const std::string& text, std::string_view flag) {
  if (text.empty()) return Now();
  return ParseTimeInput(text, flag, Now());
}

nlohmann::json PayloadJson(const PayloadRef& p) {
  nlohmann::json j = {
      {"kind", PayloadKindName(p.kind)}, {"url", p.url}, {"size", p.size}, {"sha256", p.sha256}};
  if (p.kind == PayloadKind::kDelta) {
    j["from_version"] = p.from_version;
    j["from_root_hash"] = p.from_root_hash;
  }
  return j;
}

// Where the wave is: frozen at the pause while the channel is paused (resume keeps it there).
double WaveNow(const Channel& ch, TimePoint now) {
  return WaveReached(*ch.rollout, ch.paused && ch.paused_at ? *ch.paused_at : now);
}

std::chrono::seconds TimeLeft(const Channel& ch, TimePoint now) {
  return std::chrono::duration_cast<std::chrono::seconds>(ch.expires - now);
}

nlohmann::json ChannelJson(const Channel& ch, TimePoint now) {
  nlohmann::json j = {{"name", ch.name},
                      {"metadata_version", ch.metadata_version},
                      {"expires", FormatTime(ch.expires)},
                      {"expires_in_seconds", TimeLeft(ch, now).count()},
                      {"release", ch.release},
                      {"allow_downgrade", ch.allow_downgrade},
                      {"paused", ch.paused},
                      {"pinned", ch.pinned}};
  if (ch.floor) j["floor"] = *ch.floor;
  if (ch.paused_at) j["paused_at"] = FormatTime(*ch.paused_at);
  if (ch.rollout) {
    j["rollout"] = {{"start", FormatTime(ch.rollout->start)},
                    {"duration_seconds", ch.rollout->duration.count()},
                    {"wave_percent", WaveNow(ch, now) * 100.0}};
    if (ch.rollout->limit_percent) j["rollout"]["limit_percent"] = *ch.rollout->limit_percent;
  }
  return j;
}

std::string ExpiryText(const Channel& ch, TimePoint now) {
  if (now >= ch.expires) return fmt::format("EXPIRED at {}", FormatTime(ch.expires));
  return fmt::format("expires {} (in {})", FormatTime(ch.expires),
                     FormatDuration(TimeLeft(ch, now)));
}

std::string ChannelSummary(const Channel& ch, TimePoint now) {
  std::string s = fmt::format("channel {} (metadata version {}, {}): release {}", ch.name,
                              ch.metadata_version, ExpiryText(ch, now), ch.release);
  if (ch.pinned) s += ", pinned";
  if (ch.allow_downgrade) s += ", downgrade allowed (rollback)";
  if (ch.floor) s += ", floor " + *ch.floor;
  if (ch.rollout) {
    s += fmt::format(", rollout from {} over {}", FormatTime(ch.rollout->start),
                     FormatDuration(ch.rollout->duration));
    if (ch.rollout->limit_percent) s += fmt::format(" up to {}%", *ch.rollout->limit_percent);
    s += fmt::format(" (wave at {:.1f}%{})", WaveNow(ch, now) * 100.0, ch.paused ? ", frozen" : "");
  }
  if (ch.paused) {
    s += ", PAUSED";
    if (ch.paused_at) s += " since " + FormatTime(*ch.paused_at);
  }
  return s;
}

void AddPublish(CLI::App& app, CommandRunner& runner) {
  auto* release = app.add_subcommand("release", "Publish releases to a static repository");
  release->require_subcommand(1);
  auto* cmd = release->add_subcommand(
      "publish", "Add an immutable, signed release (payloads + release.json) to a repository");
  struct Args {
    std::string repo, image_dir, payload;
    std::vector<std::string> delta_from, keys;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  cmd->add_option("--image-dir", a->image_dir, "`basalt image build` output directory")->required();
  cmd->add_option("--delta-from", a->delta_from,
                  "Older image build output to make a delta from (repeatable)");
  cmd->add_option("--key", a->keys, "Signing key: PEM file or OpenSSL store URI (repeatable)")
      ->required();
  cmd->add_option("--payload", a->payload,
                  "Import this pre-made full payload instead of generating one");
  cmd->add_flag("--json", a->json, "Print the signed release document as JSON");
  cmd->callback([&runner, a] {
    runner.Set([a, &runner]() -> int {
      auto keys = LoadSigningKeys(a->keys, "--key");
      if (!keys) return ReportError(keys.error());
      PublishOptions opt;
      opt.repo_dir = a->repo;
      opt.image_dir = a->image_dir;
      opt.delta_from = a->delta_from;
      opt.key_refs = a->keys;
      if (!a->payload.empty()) opt.full_payload = a->payload;
      opt.now = Now();
      auto maker = MakeDefaultPayloadMaker();
      StderrLogger log(runner.LogLevelOr(a->json ? LogLevel::kWarning : LogLevel::kInfo));
      auto rel = PublishRelease(opt, *keys, maker.get(), log);
      if (!rel) return ReportError(rel.error());
      if (a->json) {
        PrintJson(nlohmann::json::parse(SerializeRelease(*rel)));
      } else {
        std::cout << fmt::format("published {} ({} payloads) in {}/releases/{}\n", rel->version,
                                 rel->payloads.size(), a->repo, rel->version);
      }
      return kExitOk;
    });
  });
}

struct ChannelArgs {
  std::string repo, channel, release, start, duration, expires_in = "30d";
  std::vector<std::string> keys;
  std::optional<uint32_t> limit;
  bool force = false, clear = false, json = false;
};

void AddChannelChange(CLI::App& channel, CommandRunner& runner, const std::string& name,
                      const std::string& help, ChannelOpKind kind) {
  auto* cmd = channel.add_subcommand(name, help);
  auto a = std::make_shared<ChannelArgs>();
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  cmd->add_option("--channel", a->channel, "Channel name")->required();
  cmd->add_option("--key", a->keys, "Signing key: PEM file or OpenSSL store URI (repeatable)")
      ->required();
  cmd->add_option("--expires-in", a->expires_in,
                  "How long the signed document stays valid (default 30d); re-sign before");
  bool needs_release = kind == ChannelOpKind::kSet || kind == ChannelOpKind::kPin ||
                       kind == ChannelOpKind::kRollback;
  if (needs_release) cmd->add_option("--release", a->release, "Release version")->required();
  if (kind == ChannelOpKind::kFloor) {
    auto* rel = cmd->add_option("--release", a->release, "Minimum version hosts must pass through");
    auto* clear = cmd->add_flag("--clear", a->clear, "Remove the floor");
    rel->excludes(clear);
  }
  if (kind == ChannelOpKind::kSet || kind == ChannelOpKind::kRollout) {
    auto* start = cmd->add_option("--start", a->start, "Rollout start (RFC 3339 UTC or \"now\")");
    auto* dur = cmd->add_option("--duration", a->duration, "Rollout duration (e.g. 90m, 24h, 7d)");
    start->needs(dur);
    dur->needs(start);
  }
  if (kind == ChannelOpKind::kRollout) {
    cmd->add_option("--limit", a->limit,
                    "The wave never passes this percentage of hosts (0..100); alone: keep the "
                    "wave's timing and change only its limit")
        ->check(CLI::Range(0, 100));
  }
  if (kind == ChannelOpKind::kSet) cmd->add_flag("--force", a->force, "Move a pinned channel");
  cmd->add_flag("--json", a->json, "Print the new channel document as JSON");
  cmd->callback([&runner, a, kind] {
    runner.Set([a, kind]() -> int {
      if (kind == ChannelOpKind::kFloor && a->release.empty() && !a->clear) {
        return ReportError(Error(ErrorKind::kInvalidInput, "floor needs --release V or --clear"));
      }
      if (kind == ChannelOpKind::kRollout && a->start.empty() && !a->limit) {
        return ReportError(Error(ErrorKind::kInvalidInput,
                                 "rollout needs --start and --duration, or --limit, or both"));
      }
      auto keys = LoadSigningKeys(a->keys, "--key");
      if (!keys) return ReportError(keys.error());
      auto expires = ParseDuration(a->expires_in, "--expires-in");
      if (!expires) return ReportError(expires.error());
      ChannelOp op;
      op.kind = kind;
      op.release = a->release;
      op.force = a->force;
      op.limit_percent = a->limit;
      if (!a->start.empty()) {
        auto start = ParseTimeArg(a->start, "--start");
        if (!start) return ReportError(start.error());
        auto dur = ParseDuration(a->duration, "--duration");
        if (!dur) return ReportError(dur.error());
        op.rollout = Rollout{.start = *start, .duration = *dur};
      }
      const TimePoint now = Now();
      auto ch = ChangeChannel(a->repo, a->channel, op, *keys, now, *expires);
      if (!ch) return ReportError(ch.error());
      if (a->json) {
        PrintJson(ChannelJson(*ch, now));
      } else {
        std::cout << ChannelSummary(*ch, now) << "\n";
        if (kind == ChannelOpKind::kRollback && ch->paused) {
          // Rollback keeps the pause (an operation changes only what it names): say so, since
          // an operator rolling back may expect hosts to move right away.
          std::cout << fmt::format(
              "note: channel {} is paused; hosts act on the rollback after `basalt channel "
              "resume`\n",
              ch->name);
        }
      }
      return kExitOk;
    });
  });
}

// Warnings for channels expiring within `window` (already expired ones included).
std::vector<std::string> ExpiryWarnings(const std::vector<Channel>& channels, TimePoint now,
                                        std::chrono::seconds window) {
  std::vector<std::string> out;
  for (const Channel& ch : channels) {
    if (ch.expires - now <= window) {
      out.push_back(fmt::format("channel {} {}; renew it with `basalt channel renew`", ch.name,
                                ExpiryText(ch, now)));
    }
  }
  return out;
}

void AddChannelList(CLI::App& channel, CommandRunner& runner) {
  auto* cmd = channel.add_subcommand(
      "list", "Every channel of a repository directory: release, expiry, pin, pause, wave");
  struct Args {
    std::string repo, now, warn_expiry = "7d";
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  cmd->add_option("--now", a->now, "Evaluate at this time (RFC 3339 UTC; default now)");
  cmd->add_option("--warn-expiry", a->warn_expiry,
                  "Warn about channels expiring within this long (default 7d)");
  cmd->add_flag("--json", a->json, "Print {channels, warnings} as JSON");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      auto now = ParseTimeArg(a->now, "--now");
      if (!now) return ReportError(now.error());
      auto window = ParseDuration(a->warn_expiry, "--warn-expiry");
      if (!window) return ReportError(window.error());
      auto channels = ListChannels(a->repo);
      if (!channels) return ReportError(channels.error());
      std::vector<std::string> warnings = ExpiryWarnings(*channels, *now, *window);
      if (a->json) {
        nlohmann::json list = nlohmann::json::array();
        for (const Channel& ch : *channels)
          list.push_back(ChannelJson(ch, *now));
        PrintJson({{"channels", list}, {"warnings", warnings}});
      } else {
        for (const Channel& ch : *channels)
          std::cout << ChannelSummary(ch, *now) << "\n";
        for (const std::string& w : warnings)
          std::cout << "warning: " << w << "\n";
      }
      return kExitOk;
    });
  });
}

void AddChannelHistory(CLI::App& channel, CommandRunner& runner) {
  auto* cmd = channel.add_subcommand(
      "history", "The channel documents signed so far (channels/history/), oldest first");
  struct Args {
    std::string repo, channel;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  cmd->add_option("--channel", a->channel, "Channel name")->required();
  cmd->add_flag("--json", a->json, "Print the documents as a JSON array");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      auto history = LoadChannelHistory(a->repo, a->channel);
      if (!history) return ReportError(history.error());
      if (a->json) {
        nlohmann::json list = nlohmann::json::array();
        for (const Channel& ch : *history) {
          nlohmann::json j = ChannelJson(ch, ch.expires);
          // Relative to the document's own expiry these say nothing: leave them out.
          j.erase("expires_in_seconds");
          if (j.contains("rollout")) j["rollout"].erase("wave_percent");
          list.push_back(std::move(j));
        }
        PrintJson(list);
        return kExitOk;
      }
      if (history->empty()) {
        std::cout << fmt::format(
            "channel {}: no history (changes before history was kept are "
            "not recorded)\n",
            a->channel);
      }
      for (const Channel& ch : *history) {
        std::string line = fmt::format("{:>6}  release {}", ch.metadata_version, ch.release);
        if (ch.rollout) {
          line += fmt::format(", rollout from {} over {}", FormatTime(ch.rollout->start),
                              FormatDuration(ch.rollout->duration));
          if (ch.rollout->limit_percent) {
            line += fmt::format(" up to {}%", *ch.rollout->limit_percent);
          }
        }
        if (ch.floor) line += ", floor " + *ch.floor;
        if (ch.pinned) line += ", pinned";
        if (ch.allow_downgrade) line += ", rollback";
        if (ch.paused) line += ", paused";
        line += ", expires " + FormatTime(ch.expires);
        std::cout << line << "\n";
      }
      return kExitOk;
    });
  });
}

void AddChannelShow(CLI::App& channel, CommandRunner& runner) {
  auto* cmd = channel.add_subcommand(
      "show", "Explain what a host on a given version would do now, and why");
  struct Args {
    std::string repo, channel, keys, root_file, host_version, machine_id, host_root_hash, now, pin;
    uint64_t last_seen = 0;
    size_t threshold = 1;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--repo", a->repo, "Repository URL (http, https, file) or directory")->required();
  cmd->add_option("--channel", a->channel, "Channel name")->required();
  auto* keys_opt = cmd->add_option("--keys", a->keys,
                                   "Trusted public keys: a directory of *.pem or one PEM file");
  cmd->add_option("--root-file", a->root_file,
                  "The host's first root (follow the repository's roots, then its roles)")
      ->excludes(keys_opt);
  cmd->add_option("--host-version", a->host_version, "The host's current version")->required();
  cmd->add_option("--machine-id", a->machine_id, "The host's /etc/machine-id")->required();
  cmd->add_option("--host-root-hash", a->host_root_hash,
                  "The host's /usr root hash (default: the one release HOST_VERSION names)");
  cmd->add_option("--now", a->now, "Evaluate at this time (RFC 3339 UTC; default now)");
  cmd->add_option("--pin", a->pin, "The host's PIN= version");
  cmd->add_option("--last-seen", a->last_seen,
                  "Last channel metadata version the host accepted (replay check)");
  cmd->add_option("--threshold", a->threshold, "Signatures required (default 1)");
  cmd->add_flag("--json", a->json, "Print {decision, reason, version, payload} as JSON");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      auto now = ParseTimeArg(a->now, "--now");
      if (!now) return ReportError(now.error());
      if (auto s = CheckVersion(a->host_version, "--host-version"); !s) {
        return ReportError(s.error());
      }
      auto fetcher = http::MakeCurlFetcher();
      RepositorySource source(*fetcher, a->repo);
      auto trust = HostSideTrust(a->keys, a->root_file, a->threshold, source, *now);
      if (!trust) return ReportError(trust.error());
      HostState host;
      host.current_version = a->host_version;
      host.machine_id = a->machine_id;
      host.now = *now;
      if (!a->pin.empty()) host.pin = a->pin;
      if (a->last_seen > 0) host.last_metadata_version = a->last_seen;
      host.current_root_hash = a->host_root_hash;
      if (host.current_root_hash.empty()) {
        // A host on version V runs V's signed /usr; use that when the operator did not say.
        if (auto text = source.FetchRelease(a->host_version)) {
          if (auto body = OpenVerified(*text, kReleasePayloadType, trust->release_keys,
                                       trust->release_threshold)) {
            if (auto rel = ParseRelease(*body); rel && rel->version == a->host_version) {
              host.current_root_hash = rel->usr.root_hash;
            }
          }
        }
      }
      auto d = Decide(*trust, a->channel, source, host);
      if (!d) return ReportError(d.error());
      if (a->json) {
        nlohmann::json j = {
            {"decision", VerdictName(d->verdict)}, {"reason", d->reason}, {"code", d->code}};
        if (d->verdict == Verdict::kUpdate) {
          j["version"] = d->version;
          j["payload"] = PayloadJson(*d->payload);
        }
        if (d->channel) j["channel"] = ChannelJson(*d->channel, *now);
        if (d->wave_opens) {
          j["wave"] = {{"position", d->wave_position}, {"opens", FormatTime(*d->wave_opens)}};
        }
        PrintJson(j);
      } else {
        if (d->channel) std::cout << ChannelSummary(*d->channel, *now) << "\n";
        std::cout << fmt::format("host {} on {} at {}: {}\n", a->machine_id, a->host_version,
                                 FormatTime(*now), VerdictName(d->verdict));
        std::cout << "  " << d->reason << "\n";
        if (d->verdict == Verdict::kUpdate) {
          std::cout << fmt::format("  payload: {} ({} bytes, sha256 {})\n", d->payload->url,
                                   d->payload->size, d->payload->sha256);
        }
      }
      if (d->verdict == Verdict::kRefuse) return ExitCodeFor(Error(d->refusal_kind, d->reason));
      return kExitOk;
    });
  });
}

void AddVerify(CLI::App& app, CommandRunner& runner) {
  auto* repo = app.add_subcommand("repo", "Check a static update repository");
  repo->require_subcommand(1);
  auto* cmd = repo->add_subcommand(
      "verify", "Check every signature, hash and cross-reference; report every problem");
  struct Args {
    std::string repo, keys, root_file, now, warn_expiry = "7d";
    size_t threshold = 1;
    bool json = false, strict = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  auto* keys_opt = cmd->add_option("--keys", a->keys,
                                   "Trusted public keys: a directory of *.pem or one PEM file");
  cmd->add_option("--root-file", a->root_file,
                  "The first root hosts ship (verify the root chain and the documents' roles)")
      ->excludes(keys_opt);
  cmd->add_option("--threshold", a->threshold, "Signatures required (default 1)");
  cmd->add_option("--now", a->now, "Check expiry at this time (RFC 3339 UTC; default now)");
  cmd->add_option("--warn-expiry", a->warn_expiry,
                  "Warn about channels expiring within this long (default 7d)");
  cmd->add_flag("--strict", a->strict, "Fail on warnings too");
  cmd->add_flag("--json", a->json, "Print {ok, problems, warnings, releases, channels, payloads}");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      auto now = ParseTimeArg(a->now, "--now");
      if (!now) return ReportError(now.error());
      auto window = ParseDuration(a->warn_expiry, "--warn-expiry");
      if (!window) return ReportError(window.error());
      VerifyReport r;
      if (!a->root_file.empty()) {
        auto text = ReadFileToString(a->root_file);
        if (!text) return ReportError(text.error());
        auto first = OpenTrustedRoot(*text, a->root_file);
        if (!first) return ReportError(first.error());
        r = VerifyRepository(a->repo, *first, a->threshold, *now, *window);
      } else {
        if (a->keys.empty()) {
          return ReportError(Error(ErrorKind::kInvalidInput, "give --keys or --root-file"));
        }
        auto keyring = Keyring::Load(a->keys);
        if (!keyring) return ReportError(keyring.error());
        r = VerifyRepository(a->repo, *keyring, a->threshold, *now, *window);
      }
      // Warnings pass unless --strict: an expiring channel still works today, and a cron job
      // running verify should not page before the operator had a chance to renew.
      const bool ok = r.ok() && (!a->strict || r.warnings.empty());
      if (a->json) {
        PrintJson({{"ok", ok},
                   {"problems", r.problems},
                   {"warnings", r.warnings},
                   {"releases", r.releases},
                   {"channels", r.channels},
                   {"payloads", r.payloads}});
      } else {
        for (const auto& p : r.problems)
          std::cerr << "basalt: problem: " << p << "\n";
        for (const auto& w : r.warnings)
          std::cout << "warning: " << w << "\n";
        std::string verdict = r.ok() ? "OK" : fmt::format("{} problem(s)", r.problems.size());
        if (!r.warnings.empty()) verdict += fmt::format(", {} warning(s)", r.warnings.size());
        std::cout << fmt::format("{}: {} release(s), {} payload(s), {} channel(s): {}\n", a->repo,
                                 r.releases, r.payloads, r.channels, verdict);
      }
      return ok ? kExitOk : kExitIntegrity;
    });
  });
}

}  // namespace

void AddRepoCommands(CLI::App& app, CommandRunner& runner) {
  AddPublish(app, runner);
  auto* channel = app.add_subcommand("channel", "Point channels at releases; stage rollouts");
  channel->require_subcommand(1);
  AddChannelChange(*channel, runner, "set", "Point the channel at a release (creates it)",
                   ChannelOpKind::kSet);
  AddChannelChange(*channel, runner, "pin", "Pin the channel to a release until moved explicitly",
                   ChannelOpKind::kPin);
  AddChannelChange(*channel, runner, "rollback",
                   "Point the channel at an older release and allow the downgrade",
                   ChannelOpKind::kRollback);
  AddChannelChange(*channel, runner, "rollout",
                   "Stage the current release in waves, or change the wave's limit",
                   ChannelOpKind::kRollout);
  AddChannelChange(*channel, runner, "pause",
                   "Stop hosts from starting updates and freeze the wave where it is",
                   ChannelOpKind::kPause);
  AddChannelChange(*channel, runner, "resume",
                   "Undo pause; the wave goes on from where the pause froze it",
                   ChannelOpKind::kResume);
  AddChannelChange(*channel, runner, "floor", "Set the version older hosts must pass through",
                   ChannelOpKind::kFloor);
  AddChannelChange(*channel, runner, "renew",
                   "Re-sign the channel unchanged with a new expiry (nothing else changes)",
                   ChannelOpKind::kRenew);
  AddChannelShow(*channel, runner);
  AddChannelList(*channel, runner);
  AddChannelHistory(*channel, runner);
  AddVerify(app, runner);
}

}  // namespace basalt
