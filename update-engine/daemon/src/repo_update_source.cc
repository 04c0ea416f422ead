#include "repo_update_source.h"

#include "attest/uki_measurements.h"
#include "payload/boot_artifacts.h"
#include "repo/decision.h"
#include "repo/repo_source.h"

namespace basalt::update {
namespace {

Result<OfferedPayload> Offered(const repo::RepositorySource& repo, const repo::PayloadRef& p) {
  OfferedPayload o;
  o.delta = p.kind == repo::PayloadKind::kDelta;
  o.from_version = p.from_version;
  o.from_root_hash = p.from_root_hash;
  BASALT_ASSIGN_OR_RETURN(std::string url, repo.PayloadUrl(p));
  o.urls.push_back(std::move(url));
  o.size = p.size;
  o.sha256 = p.sha256;
  return o;
}

}  // namespace

Result<UpdateOffer> RepositoryUpdateSource::Check(const HostFacts& host) {
  repo::RepositorySource repo(fetcher_, base_);
  // The clock floor: a clock set back does not make metadata older than a verified release
  // current again.
  const TimePoint clock = now_();
  const TimePoint now = ExpiryTime(host, clock);
  const bool floored = now != clock;
  auto floor_note = [&](const Error& e) {
    if (!floored) return e;
    return Error(e.kind(), fmt::format("{} (this host's clock shows {}, but it has verified a "
                                       "release signed at {}, so it judges expiry at that time)",
                                       e.message(), FormatTime(clock), FormatTime(now)));
  };
  if (auto s = trust_.Refresh(repo, now); !s) return std::unexpected(floor_note(s.error()));
  repo::HostState hs;
  hs.current_version = host.current_version;
  hs.current_root_hash = host.current_root_hash;
  hs.machine_id = host.machine_id;
  hs.last_metadata_version = host.last_metadata_version;
  hs.last_metadata_sha256 = host.last_metadata_sha256;
  hs.last_metadata_keys = host.last_metadata_keys;
  hs.pin = host.pin;
  hs.now = now;
  BASALT_ASSIGN_OR_RETURN(repo::Decision d, repo::Decide(trust_.trust(), host.channel, repo, hs));
  UpdateOffer offer;
  if (d.channel) {
    offer.metadata_version = d.channel->metadata_version;
    offer.metadata_sha256 = d.channel_sha256;
    offer.metadata_keys = d.channel_keys;
  }
  offer.code = d.code;
  offer.reason = d.reason;
  if (d.verdict == repo::Verdict::kRefuse) {
    // The decision's code travels with the error: status, D-Bus and the journal show
    // "expired" or "downgrade", not only the kind.
    return std::unexpected(
        floor_note(Error(d.refusal_kind, fmt::format("channel {} refused ({}): {}", host.channel,
                                                     d.code, d.reason)))
            .WithCode(d.code));
  }
  if (d.verdict == repo::Verdict::kWait) return offer;
  offer.update = true;
  offer.signed_decision = true;
  offer.version = d.version;
  offer.usr_root_hash = d.release->usr.root_hash;
  offer.kernel_version = d.release->kernel.version;
  offer.signed_time = d.release->created;
  offer.kernel_cmdline = d.release->kernel.cmdline;
  if (d.release->boot) {
    for (const auto& [slot, f] : d.release->boot->uki) {
      offer.boot_artifacts[payload::UkiArtifactName(slot)] = f.sha256;
      // Every PCR 11 value a correct boot of this UKI passes through: the stub's, then each
      // systemd-pcrphase phase in boot order (attest/uki_measurements.h).
      if (f.measurements) {
        std::vector<std::string>& pcr11 = offer.pcr11_predictions[slot];
        pcr11.push_back(f.measurements->pcr11);
        for (std::string_view phase : attest::kPcrPhases) {
          auto it = f.measurements->pcr11_phases.find(std::string(phase));
          if (it != f.measurements->pcr11_phases.end()) pcr11.push_back(it->second);
        }
      }
    }
  }
  // The chosen payload first (a delta when one matches this host), then the full payload as the
  // fallback for a delta whose source turns out not to match.
  BASALT_ASSIGN_OR_RETURN(OfferedPayload chosen, Offered(repo, *d.payload));
  offer.payloads.push_back(std::move(chosen));
  if (d.payload->kind == repo::PayloadKind::kDelta) {
    const repo::PayloadRef* full = d.release->FullPayload();
    if (full == nullptr) return Fail(ErrorKind::kInvalidInput, "release has no full payload");
    BASALT_ASSIGN_OR_RETURN(OfferedPayload f, Offered(repo, *full));
    offer.payloads.push_back(std::move(f));
  }
  return offer;
}

}  // namespace basalt::update
