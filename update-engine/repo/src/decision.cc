#include "repo/decision.h"

#include <fmt/ranges.h>

#include "common/hash.h"
#include "common/hex.h"
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

Decision WithChannel(Decision d, const Channel& ch, std::string sha256, std::string keys) {
  d.channel = ch;
  d.channel_sha256 = std::move(sha256);
  d.channel_keys = std::move(keys);
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

namespace {

// Decide's steps, in order. Each step either lets the decision go on (nullopt) or ends it with a
// wait or a refusal; the steps that fetch also pass fetch errors through, which are retryable.
class Decider {
 public:
  Decider(const Trust& trust, std::string_view channel_name, MetadataSource& source,
          const HostState& host)
      : trust_(trust), name_(channel_name), source_(source), host_(host) {}

  Result<Decision> Run() {
    BASALT_ASSIGN_OR_RETURN(std::optional<Decision> end, VerifyChannel());
    if (end) return *std::move(end);
    if (auto stop = ChooseTarget()) return *std::move(stop);
    if (auto stop = CheckWave()) return *std::move(stop);
    BASALT_ASSIGN_OR_RETURN(end, VerifyRelease());
    if (end) return *std::move(end);
    if (auto stop = ChoosePayload()) return *std::move(stop);
    return Update();
  }

 private:
  // The channel is signed by trusted keys, well formed, the one asked for, not a replay of one
  // already superseded, and not expired.
  Result<std::optional<Decision>> VerifyChannel() {
    BASALT_ASSIGN_OR_RETURN(std::string text, source_.FetchChannel(name_));
    auto verified = OpenVerifiedSigners(text, kChannelPayloadType, trust_.channel_keys,
                                        trust_.channel_threshold);
    if (!verified) {
      return SignatureRefusal("channel", fmt::format("channel {}", name_), verified.error());
    }
    const std::string& body = verified->body;
    auto parsed = ParseChannel(body);
    if (!parsed) {
      return Refuse("bad-channel", fmt::format("channel {}: {}", name_, parsed.error().message()),
                    ErrorKind::kInvalidInput);
    }
    const Channel& ch = *parsed;
    if (ch.name != name_) {
      return Refuse(
          "wrong-channel",
          fmt::format("the document served as channel {} is signed for channel {}", name_, ch.name),
          ErrorKind::kIntegrity);
    }
    if (auto stop = CheckRepository("channel " + ch.name, ch.repository)) return stop;
    const bool record_binds = RecordBinds();
    if (record_binds && host_.last_metadata_version &&
        ch.metadata_version < *host_.last_metadata_version) {
      return Refuse("replay",
                    fmt::format("channel {} metadata version {} is older than version {} this host "
                                "already accepted (replayed or frozen metadata)",
                                ch.name, ch.metadata_version, *host_.last_metadata_version),
                    ErrorKind::kIntegrity);
    }
    const std::string digest = ToHex(Sha256(body));
    // A version number names one document: two different bodies with the same number mean the
    // signer forked the repository or its key is being abused.
    if (record_binds && host_.last_metadata_version &&
        ch.metadata_version == *host_.last_metadata_version &&
        !host_.last_metadata_sha256.empty() && digest != host_.last_metadata_sha256) {
      return Refuse("conflicting-metadata",
                    fmt::format("channel {} metadata version {} differs from the version {} this "
                                "host already accepted (same version, other content: a forked "
                                "repository or a misused key)",
                                ch.name, ch.metadata_version, ch.metadata_version),
                    ErrorKind::kIntegrity);
    }
    if (host_.now >= ch.expires) {
      return Refuse(
          "expired",
          fmt::format("channel {} metadata version {} expired at {} (now {}); the "
                      "repository is stale or an attacker is freezing this host",
                      ch.name, ch.metadata_version, FormatTime(ch.expires), FormatTime(host_.now)),
          ErrorKind::kPolicy);
    }
    d_.channel = ch;
    d_.channel_sha256 = digest;
    d_.channel_keys = fmt::format("{}", fmt::join(verified->signers, ","));
    return std::optional<Decision>();
  }

  // Which version this host should run, and why: the channel's release, the host's pin, or the
  // channel's floor on the way; a downgrade only when the channel allows it.
  std::optional<Decision> ChooseTarget() {
    const Channel& ch = *d_.channel;
    if (ch.paused)
      return Wait("paused", fmt::format("channel {} is paused by its operator", ch.name));
    target_ = ch.release;
    why_ = "newer";
    if (host_.pin) {
      target_ = *host_.pin;
      why_ = "pin";
      if (CompareVersions(target_, host_.current_version) == 0) {
        return Wait("pinned", fmt::format("this host is pinned to {}, which it runs", target_));
      }
    }
    if (ch.floor && CompareVersions(host_.current_version, *ch.floor) < 0 &&
        CompareVersions(*ch.floor, target_) < 0) {
      target_ = *ch.floor;
      why_ = "floor";
    }
    int cmp = CompareVersions(target_, host_.current_version);
    if (cmp == 0) {
      return Wait("up-to-date",
                  fmt::format("up to date: running {}, which channel {} names", target_, ch.name));
    }
    if (cmp < 0) {
      if (!ch.allow_downgrade) {
        return WithChannel(
            Refuse("downgrade",
                   fmt::format("{} is older than the running {} and channel {} does not allow "
                               "a downgrade (an operator rollback sets allow_downgrade)",
                               target_, host_.current_version, ch.name)));
      }
      if (why_ == "newer") why_ = "rollback";
    }
    return std::nullopt;
  }

  // A staged rollout holds back the channel's release (and a rollback) until the wave reaches
  // this host; pins and floor steps are not held.
  std::optional<Decision> CheckWave() {
    const Channel& ch = *d_.channel;
    if ((why_ != "newer" && why_ != "rollback") || !ch.rollout) return std::nullopt;
    double pos = WavePosition(host_.machine_id, target_);
    d_.wave_position = pos;
    auto opens = ch.rollout->start +
                 std::chrono::duration_cast<std::chrono::seconds>(ch.rollout->duration * pos);
    d_.wave_opens = opens;
    double elapsed = WaveReached(*ch.rollout, host_.now);
    if (elapsed <= pos && elapsed < 1.0) {
      return Wait(
          "outside-wave",
          fmt::format("outside the rollout wave of {}: this host is at {}%, the "
                      "rollout has reached {}%; its turn comes at {}",
                      target_, Percent(pos), Percent(std::max(0.0, elapsed)), FormatTime(opens)));
    }
    return std::nullopt;
  }

  // The target's release document is signed by trusted keys, well formed, and is the release
  // of that version (not another one served in its place).
  Result<std::optional<Decision>> VerifyRelease() {
    BASALT_ASSIGN_OR_RETURN(std::string text, source_.FetchRelease(target_));
    auto body =
        OpenVerified(text, kReleasePayloadType, trust_.release_keys, trust_.release_threshold);
    if (!body) {
      return WithChannel(
          SignatureRefusal("release", fmt::format("release {}", target_), body.error()));
    }
    auto rel = ParseRelease(*body);
    if (!rel) {
      return WithChannel(Refuse("bad-release",
                                fmt::format("release {}: {}", target_, rel.error().message()),
                                ErrorKind::kInvalidInput));
    }
    if (rel->version != target_) {
      return WithChannel(Refuse(
          "mix-and-match",
          fmt::format("the release served for {} is signed as version {}", target_, rel->version),
          ErrorKind::kIntegrity));
    }
    if (auto stop = CheckRepository("release " + target_, rel->repository)) {
      return WithChannel(*std::move(stop));
    }
    const Channel& ch = *d_.channel;
    if (target_ == ch.release && ch.release_sha256) {
      const std::string digest = ToHex(Sha256(*body));
      if (digest != *ch.release_sha256) {
        return WithChannel(Refuse(
            "mix-and-match",
            fmt::format("the release document served for {} has SHA-256 {}, but channel {} is "
                        "signed for {} (another repository's or a replaced release)",
                        target_, digest, ch.name, *ch.release_sha256),
            ErrorKind::kIntegrity));
      }
    }
    release_ = std::move(*rel);
    return std::optional<Decision>();
  }

  // A delta from exactly the running /usr (version and root hash), else the full payload.
  std::optional<Decision> ChoosePayload() {
    for (const PayloadRef& p : release_.payloads) {
      if (p.kind != PayloadKind::kDelta || p.from_version != host_.current_version) continue;
      if (!host_.current_root_hash.empty() && p.from_root_hash == host_.current_root_hash) {
        chosen_ = &p;
      } else {
        d_.delta_skipped = true;
      }
    }
    if (chosen_ == nullptr) chosen_ = release_.FullPayload();
    if (chosen_ == nullptr) {
      return WithChannel(Refuse("no-payload",
                                fmt::format("release {} has no full payload", target_),
                                ErrorKind::kInvalidInput));
    }
    return std::nullopt;
  }

  Decision Update() {
    const Channel& ch = *d_.channel;
    d_.verdict = Verdict::kUpdate;
    d_.code = why_;
    d_.version = target_;
    d_.payload = *chosen_;
    std::string via;
    if (why_ == "floor") {
      via = fmt::format(
          " first: {} is the channel's floor, which hosts older than it must pass "
          "through on the way to {}",
          target_, ch.release);
    } else if (why_ == "pin") {
      via = fmt::format(": this host is pinned to {}", target_);
    } else if (why_ == "rollback") {
      via = fmt::format(": channel {} was rolled back to it (allow_downgrade)", ch.name);
    } else if (ch.rollout) {
      via = fmt::format(": inside the rollout wave (host at {}%)", Percent(d_.wave_position));
    }
    std::string payload_desc =
        chosen_->kind == PayloadKind::kFull
            ? fmt::format("the full payload ({} bytes){}", chosen_->size,
                          d_.delta_skipped ? "; the delta from " + host_.current_version +
                                                 " was made for a different root hash"
                                           : "")
            : fmt::format("the delta from {} ({} bytes)", chosen_->from_version, chosen_->size);
    d_.reason = fmt::format("update {} -> {}{}; using {}", host_.current_version, target_, via,
                            payload_desc);
    d_.release = std::move(release_);
    return std::move(d_);
  }

  // What the host does when a document does not open: refuse, as a bad signature, or, for a
  // signed document of a newer format than this host reads, as unsupported.
  static Decision SignatureRefusal(std::string_view what, const std::string& name,
                                   const Error& error) {
    if (error.kind() == ErrorKind::kUnsupported) {
      return Refuse("unsupported-format", fmt::format("{}: {}", name, error.message()),
                    ErrorKind::kUnsupported);
    }
    return Refuse(fmt::format("bad-{}-signature", what),
                  fmt::format("{}: {}", name, error.message()), ErrorKind::kIntegrity);
  }

  // A replay record binds while every key that signed it is still a channel key. Once a root
  // revokes one of them it does not (TUF's fast-forward recovery: a leaked key signed a huge
  // version); adding keys or changing the threshold changes nothing. A record without signers
  // predates them and binds.
  bool RecordBinds() const {
    std::string_view ids = host_.last_metadata_keys;
    if (ids.empty()) return true;
    for (size_t pos = 0; pos <= ids.size();) {
      size_t end = std::min(ids.find(',', pos), ids.size());
      if (trust_.channel_keys.Find(std::string(ids.substr(pos, end - pos))) == nullptr) {
        return false;
      }
      pos = end + 1;
    }
    return true;
  }

  // With a root, every document names the root's repository: documents signed by the same keys
  // for another repository (a staging one, say) cannot be mixed in.
  std::optional<Decision> CheckRepository(const std::string& what,
                                          const std::optional<std::string>& repository) const {
    if (trust_.repository.empty() || repository == trust_.repository) return std::nullopt;
    return Refuse("wrong-repository",
                  repository ? fmt::format("{} belongs to repository \"{}\"; this host follows "
                                           "repository \"{}\" (mix-and-match)",
                                           what, *repository, trust_.repository)
                             : fmt::format("{} names no repository; this host's root requires "
                                           "repository \"{}\"",
                                           what, trust_.repository),
                  ErrorKind::kIntegrity);
  }

  Decision Wait(std::string code, std::string reason) {
    return ::basalt::repo::Wait(std::move(d_), std::move(code), std::move(reason));
  }
  // Refusals after the channel verified still report it, so the host records its version.
  Decision WithChannel(Decision d) const {
    return ::basalt::repo::WithChannel(std::move(d), *d_.channel, d_.channel_sha256,
                                       d_.channel_keys);
  }

  const Trust& trust_;
  std::string_view name_;
  MetadataSource& source_;
  const HostState& host_;
  Decision d_;
  std::string target_;
  std::string why_;
  Release release_;
  const PayloadRef* chosen_ = nullptr;
};

}  // namespace

Result<Decision> Decide(const Trust& trust, std::string_view channel_name, MetadataSource& source,
                        const HostState& host) {
  return Decider(trust, channel_name, source, host).Run();
}

Result<Decision> Decide(const Keyring& keys, size_t threshold, std::string_view channel_name,
                        MetadataSource& source, const HostState& host) {
  return Decide(Trust::FromKeyring(keys, threshold), channel_name, source, host);
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
