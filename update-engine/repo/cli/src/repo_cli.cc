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

nlohmann::json ChannelJson(const Channel& ch) {
  nlohmann::json j = {{"name", ch.name},
                      {"metadata_version", ch.metadata_version},
                      {"expires", FormatTime(ch.expires)},
                      {"release", ch.release},
                      {"allow_downgrade", ch.allow_downgrade},
                      {"paused", ch.paused},
                      {"pinned", ch.pinned}};
  if (ch.floor) j["floor"] = *ch.floor;
  if (ch.rollout) {
    j["rollout"] = {{"start", FormatTime(ch.rollout->start)},
                    {"duration_seconds", ch.rollout->duration.count()}};
  }
  return j;
}

std::string ChannelSummary(const Channel& ch) {
  std::string s = fmt::format("channel {} (metadata version {}, expires {}): release {}", ch.name,
                              ch.metadata_version, FormatTime(ch.expires), ch.release);
  if (ch.pinned) s += ", pinned";
  if (ch.allow_downgrade) s += ", downgrade allowed (rollback)";
  if (ch.floor) s += ", floor " + *ch.floor;
  if (ch.rollout) {
    s += fmt::format(", rollout from {} over {}", FormatTime(ch.rollout->start),
                     FormatDuration(ch.rollout->duration));
  }
  if (ch.paused) s += ", PAUSED";
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
    runner.Set([a]() -> int {
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
      StderrLogger log;
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
    if (kind == ChannelOpKind::kRollout) {
      start->required();
      dur->required();
    } else {
      start->needs(dur);
      dur->needs(start);
    }
  }
  if (kind == ChannelOpKind::kSet) cmd->add_flag("--force", a->force, "Move a pinned channel");
  cmd->add_flag("--json", a->json, "Print the new channel document as JSON");
  cmd->callback([&runner, a, kind] {
    runner.Set([a, kind]() -> int {
      if (kind == ChannelOpKind::kFloor && a->release.empty() && !a->clear) {
        return ReportError(Error(ErrorKind::kInvalidInput, "floor needs --release V or --clear"));
      }
      auto keys = LoadSigningKeys(a->keys, "--key");
      if (!keys) return ReportError(keys.error());
      auto expires = ParseDuration(a->expires_in, "--expires-in");
      if (!expires) return ReportError(expires.error());
      ChannelOp op;
      op.kind = kind;
      op.release = a->release;
      op.force = a->force;
      if (!a->start.empty()) {
        auto start = ParseTimeArg(a->start, "--start");
        if (!start) return ReportError(start.error());
        auto dur = ParseDuration(a->duration, "--duration");
        if (!dur) return ReportError(dur.error());
        op.rollout = Rollout{*start, *dur};
      }
      auto ch = ChangeChannel(a->repo, a->channel, op, *keys, Now(), *expires);
      if (!ch) return ReportError(ch.error());
      if (a->json) {
        PrintJson(ChannelJson(*ch));
      } else {
        std::cout << ChannelSummary(*ch) << "\n";
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
        if (d->channel) j["channel"] = ChannelJson(*d->channel);
        if (d->wave_opens) {
          j["wave"] = {{"position", d->wave_position}, {"opens", FormatTime(*d->wave_opens)}};
        }
        PrintJson(j);
      } else {
        if (d->channel) std::cout << ChannelSummary(*d->channel) << "\n";
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
    std::string repo, keys, root_file, now;
    size_t threshold = 1;
    bool json = false;
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
  cmd->add_flag("--json", a->json, "Print {ok, problems, releases, channels, payloads}");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      auto now = ParseTimeArg(a->now, "--now");
      if (!now) return ReportError(now.error());
      VerifyReport r;
      if (!a->root_file.empty()) {
        auto text = ReadFileToString(a->root_file);
        if (!text) return ReportError(text.error());
        auto first = OpenTrustedRoot(*text, a->root_file);
        if (!first) return ReportError(first.error());
        r = VerifyRepository(a->repo, *first, a->threshold, *now);
      } else {
        if (a->keys.empty()) {
          return ReportError(Error(ErrorKind::kInvalidInput, "give --keys or --root-file"));
        }
        auto keyring = Keyring::Load(a->keys);
        if (!keyring) return ReportError(keyring.error());
        r = VerifyRepository(a->repo, *keyring, a->threshold, *now);
      }
      if (a->json) {
        PrintJson({{"ok", r.ok()},
                   {"problems", r.problems},
                   {"releases", r.releases},
                   {"channels", r.channels},
                   {"payloads", r.payloads}});
      } else {
        for (const auto& p : r.problems)
          std::cerr << "basalt: problem: " << p << "\n";
        std::cout << fmt::format("{}: {} release(s), {} payload(s), {} channel(s): {}\n", a->repo,
                                 r.releases, r.payloads, r.channels,
                                 r.ok() ? "OK" : fmt::format("{} problem(s)", r.problems.size()));
      }
      return r.ok() ? kExitOk : kExitIntegrity;
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
  AddChannelChange(*channel, runner, "rollout", "Stage the current release in waves",
                   ChannelOpKind::kRollout);
  AddChannelChange(*channel, runner, "pause", "Stop hosts from starting updates",
                   ChannelOpKind::kPause);
  AddChannelChange(*channel, runner, "resume", "Undo pause", ChannelOpKind::kResume);
  AddChannelChange(*channel, runner, "floor", "Set the version older hosts must pass through",
                   ChannelOpKind::kFloor);
  AddChannelShow(*channel, runner);
  AddVerify(app, runner);
}

}  // namespace basalt
