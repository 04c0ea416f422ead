#include "repo/decision.h"

#include "common/hash.h"
#include "repo/dsse.h"
#include "repo/names.h"

namespace basalt::repo {
namespace {

Decision Refuse(std::string code, std::string reason, ErrorKind kind = ErrorKind::kPolicy) {
  Decision d;
  d.verdict = Verdict::kRefuse;
  d.code = std::move(code);
  d.reason = std::move(reason);
  d.refusal_kind = kind;
  return d;
}

Decision Wait(Decision d, std::string code, std::string reason) {
  d.verdict = Verdict::kWait;
  d.code = std::move(code);
  d.reason = std::move(reason);
  return d;
}

// Refusals after the channel verified still report it, so the host records its version.
Decision WithChannel(Decision d, const Channel& ch) {
  d.channel = ch;
  return d;
}

int Percent(double f) {
  return static_cast<int>(f * 100.0);
}

}  // namespace

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kUpdate:
      return "update";
    case Verdict::kWait:
      return "wait";
    case Verdict::kRefuse:
      return "refuse";
  }
  return "refuse";
}

double WavePosition(std::string_view machine_id, std::string_view version) {
  std::string input = fmt::format("basalt-rollout\n{}\n{}", machine_id, version);
  Sha256Digest d = Sha256(input);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | d[i];
  // 53 bits keep the division exact in a double.
  return static_cast<double>(v >> 11) / static_cast<double>(uint64_t{1} << 53);
}

Result<Decision> Decide(const Keyring& keys, size_t threshold, std::string_view channel_name,
                        MetadataSource& source, const HostState& host) {
  BASALT_ASSIGN_OR_RETURN(std::string channel_text, source.FetchChannel(channel_name));
  auto channel_body = OpenVerified(channel_text, kChannelPayloadType, keys, threshold);
  if (!channel_body) {
    return Refuse("bad-channel-signature",
                  fmt::format("channel {}: {}", channel_name, channel_body.error().message()),
                  ErrorKind::kIntegrity);
  }
  auto parsed = ParseChannel(*channel_body);
  if (!parsed) {
    return Refuse("bad-channel",
                  fmt::format("channel {}: {}", channel_name, parsed.error().message()),
                  ErrorKind::kInvalidInput);
  }
  const Channel& ch = *parsed;
  if (ch.name != channel_name) {
    return Refuse("wrong-channel",
                  fmt::format("the document served as channel {} is signed for channel {}",
                              channel_name, ch.name),
                  ErrorKind::kIntegrity);
  }
  if (host.last_metadata_version && ch.metadata_version < *host.last_metadata_version) {
    return Refuse("replay",
                  fmt::format("channel {} metadata version {} is older than version {} this host "
                              "already accepted (replayed or frozen metadata)",
                              ch.name, ch.metadata_version, *host.last_metadata_version),
                  ErrorKind::kIntegrity);
  }
  if (host.now >= ch.expires) {
    return Refuse(
        "expired",
        fmt::format("channel {} metadata version {} expired at {} (now {}); the "
                    "repository is stale or an attacker is freezing this host",
                    ch.name, ch.metadata_version, FormatTime(ch.expires), FormatTime(host.now)),
        ErrorKind::kPolicy);
  }

  Decision d;
  d.channel = ch;
  if (ch.paused) {
    return Wait(std::move(d), "paused",
                fmt::format("channel {} is paused by its operator", ch.name));
  }

  // Which version this host should run, and why.
  std::string target = ch.release;
  std::string why = "newer";
  if (host.pin) {
    target = *host.pin;
    why = "pin";
    if (CompareVersions(target, host.current_version) == 0) {
      return Wait(std::move(d), "pinned",
                  fmt::format("this host is pinned to {}, which it runs", target));
    }
  }
  if (ch.floor && CompareVersions(host.current_version, *ch.floor) < 0 &&
      CompareVersions(*ch.floor, target) < 0) {
    target = *ch.floor;
    why = "floor";
  }
  int cmp = CompareVersions(target, host.current_version);
  if (cmp == 0) {
    return Wait(std::move(d), "up-to-date",
                fmt::format("up to date: running {}, which channel {} names", target, ch.name));
  }
  if (cmp < 0) {
    if (!ch.allow_downgrade) {
      return WithChannel(
          Refuse("downgrade",
                 fmt::format("{} is older than the running {} and channel {} does not allow "
                             "a downgrade (an operator rollback sets allow_downgrade)",
                             target, host.current_version, ch.name)),
          ch);
    }
    if (why == "newer") why = "rollback";
  }

  if (why == "newer" || why == "rollback") {
    if (ch.rollout) {
      double pos = WavePosition(host.machine_id, target);
      d.wave_position = pos;
      auto opens = ch.rollout->start +
                   std::chrono::duration_cast<std::chrono::seconds>(ch.rollout->duration * pos);
      d.wave_opens = opens;
      double elapsed = 0;
      if (host.now >= ch.rollout->start) {
        elapsed = ch.rollout->duration.count() == 0
                      ? 1.0
                      : static_cast<double>((host.now - ch.rollout->start).count()) /
                            static_cast<double>(ch.rollout->duration.count());
      }
      if (elapsed <= pos && elapsed < 1.0) {
        return Wait(
            std::move(d), "outside-wave",
            fmt::format("outside the rollout wave of {}: this host is at {}%, the "
                        "rollout has reached {}%; its turn comes at {}",
                        target, Percent(pos), Percent(std::max(0.0, elapsed)), FormatTime(opens)));
      }
    }
  }

  BASALT_ASSIGN_OR_RETURN(std::string release_text, source.FetchRelease(target));
  auto release_body = OpenVerified(release_text, kReleasePayloadType, keys, threshold);
  if (!release_body) {
    return WithChannel(Refuse("bad-release-signature",
                              fmt::format("release {}: {}", target, release_body.error().message()),
                              ErrorKind::kIntegrity),
                       ch);
  }
  auto rel = ParseRelease(*release_body);
  if (!rel) {
    return WithChannel(
        Refuse("bad-release", fmt::format("release {}: {}", target, rel.error().message()),
               ErrorKind::kInvalidInput),
        ch);
  }
  if (rel->version != target) {
    return WithChannel(Refuse("mix-and-match",
                              fmt::format("the release served for {} is signed as version {}",
                                          target, rel->version),
                              ErrorKind::kIntegrity),
                       ch);
  }

  const PayloadRef* chosen = nullptr;
  for (const PayloadRef& p : rel->payloads) {
    if (p.kind != PayloadKind::kDelta || p.from_version != host.current_version) continue;
    if (!host.current_root_hash.empty() && p.from_root_hash == host.current_root_hash) {
      chosen = &p;
    } else {
      d.delta_skipped = true;
    }
  }
  if (chosen == nullptr) chosen = rel->FullPayload();
  if (chosen == nullptr) {
    return WithChannel(Refuse("no-payload", fmt::format("release {} has no full payload", target),
                              ErrorKind::kInvalidInput),
                       ch);
  }

  d.verdict = Verdict::kUpdate;
  d.code = why;
  d.version = target;
  d.payload = *chosen;
  std::string via;
  if (why == "floor") {
    via = fmt::format(
        " first: {} is the channel's floor, which hosts older than it must pass "
        "through on the way to {}",
        target, ch.release);
  } else if (why == "pin") {
    via = fmt::format(": this host is pinned to {}", target);
  } else if (why == "rollback") {
    via = fmt::format(": channel {} was rolled back to it (allow_downgrade)", ch.name);
  } else if (ch.rollout) {
    via = fmt::format(": inside the rollout wave (host at {}%)", Percent(d.wave_position));
  }
  std::string payload_desc =
      chosen->kind == PayloadKind::kFull
          ? fmt::format("the full payload ({} bytes){}", chosen->size,
                        d.delta_skipped ? "; the delta from " + host.current_version +
                                              " was made for a different root hash"
                                        : "")
          : fmt::format("the delta from {} ({} bytes)", chosen->from_version, chosen->size);
  d.reason =
      fmt::format("update {} -> {}{}; using {}", host.current_version, target, via, payload_desc);
  d.release = std::move(*rel);
  return d;
}

Status CheckPayloadDigest(const PayloadRef& expected, uint64_t size, std::string_view sha256_hex) {
  if (size != expected.size) {
    return Failf(ErrorKind::kIntegrity, "payload {}: {} bytes, the signed release says {}",
                 expected.url, size, expected.size);
  }
  if (sha256_hex != expected.sha256) {
    return Failf(ErrorKind::kIntegrity, "payload {}: SHA-256 {} does not match the signed {}",
                 expected.url, sha256_hex, expected.sha256);
  }
  return {};
}

}  // namespace basalt::repo
