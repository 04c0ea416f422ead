#include "fleet/omaha_source.h"

#include "common/printable.h"
#include "omaha_request.h"
#include "omaha_response.h"

namespace basalt::fleet {
namespace {

// Omaha responses are a few KiB; a megabyte is generous and still bounded.
constexpr size_t kMaxResponse = 1 << 20;

OmahaRequest BaseRequest(const OmahaConfig& c, const update::HostFacts& h, std::string app_id) {
  OmahaRequest r;
  r.app_id = std::move(app_id);
  r.version = h.current_version;
  r.track = h.channel;
  r.machine_id = h.machine_id;
  r.boot_id = h.boot_id;
  r.oem = h.oem;
  r.platform = c.platform;
  r.board = c.board;
  return r;
}

}  // namespace

OmahaUpdateSource::OmahaUpdateSource(OmahaConfig config, std::unique_ptr<http::Fetcher> fetcher)
    : config_(std::move(config)), fetcher_(std::move(fetcher)) {
  if (!fetcher_) {
    http::FetchOptions o;
    o.user_agent = "basalt-omaha";
    o.total_timeout_seconds = 120;
    fetcher_ = http::MakeCurlFetcher(o);
  }
}

std::string OmahaUpdateSource::AppId(const update::HostFacts& host) const {
  return host.app_id.empty() ? config_.app_id : host.app_id;
}

Result<update::UpdateOffer> OmahaUpdateSource::Check(const update::HostFacts& host) {
  std::string app_id = AppId(host);
  if (app_id.empty()) return Fail(ErrorKind::kInvalidInput, "Omaha: no app id configured");
  OmahaRequest req = BaseRequest(config_, host, app_id);
  req.update_check = true;
  BASALT_ASSIGN_OR_RETURN(std::string text, fetcher_->Post(config_.server, BuildOmahaRequest(req),
                                                           "text/xml", kMaxResponse));
  auto parsed = ParseOmahaResponse(text, app_id);
  if (!parsed) return std::unexpected(parsed.error().WithContext(http::RedactUrl(config_.server)));
  update::UpdateOffer offer;
  if (!parsed->update) {
    offer.code = "up-to-date";
    offer.reason = fmt::format("Omaha server has no update for {} on track {}",
                               host.current_version, host.channel);
    return offer;
  }
  const OmahaUpdate& u = parsed->offer;
  if (u.version == host.current_version) {
    offer.code = "up-to-date";
    offer.reason = fmt::format("Omaha server offers {}, which is already running", u.version);
    return offer;
  }
  if (host.pin && *host.pin != u.version) {
    offer.code = "pinned";
    offer.reason =
        fmt::format("Omaha server offers {}, but the host is pinned to {}", u.version, *host.pin);
    return offer;
  }
  // Omaha answers are unsigned: payload URLs must at least come over TLS, so that the bytes
  // the host spends its time on are the server's (the signature decides whether they are used).
  for (const std::string& url : u.urls) {
    const bool tls = url.starts_with("https://");
    if (!tls && !(config_.allow_insecure_http && url.starts_with("http://"))) {
      return Failf(ErrorKind::kPolicy,
                   "Omaha server offers {} from a non-https URL ({}); refused (http:// only with "
                   "OMAHA_INSECURE_HTTP_FOR_TESTING=yes)",
                   Printable(u.version), Printable(url.substr(0, url.find(':'))) + "://...");
    }
  }
  offer.update = true;
  offer.version = u.version;
  update::OfferedPayload p;
  p.urls = u.urls;
  p.size = u.size;
  p.sha256 = u.sha256;
  offer.payloads.push_back(std::move(p));
  return offer;
}

Status OmahaUpdateSource::Report(const update::HostFacts& host, update::UpdateEvent event,
                                 int error_code) {
  std::string app_id = AppId(host);
  if (app_id.empty()) return Fail(ErrorKind::kInvalidInput, "Omaha: no app id configured");
  OmahaRequest req = BaseRequest(config_, host, app_id);
  OmahaEvent ev;
  switch (event) {
    case update::UpdateEvent::kDownloadStarted:
      ev = {kOmahaEventDownloadStarted, kOmahaResultSuccess, std::nullopt, ""};
      break;
    case update::UpdateEvent::kDownloadFinished:
      ev = {kOmahaEventDownloadFinished, kOmahaResultSuccess, std::nullopt, ""};
      break;
    case update::UpdateEvent::kUpdatedAndRebooted:
      ev = {kOmahaEventUpdateComplete, kOmahaResultSuccessReboot, std::nullopt, ""};
      break;
    case update::UpdateEvent::kFailed:
      ev = {kOmahaEventUpdateComplete, kOmahaResultError,
            error_code != 0 ? error_code : kOmahaErrorUpdateFailed, ""};
      break;
    case update::UpdateEvent::kRolledBack:
      ev = {kOmahaEventUpdateComplete, kOmahaResultError,
            error_code != 0 ? error_code : kOmahaErrorRolledBack, ""};
      break;
  }
  req.event = ev;
  BASALT_ASSIGN_OR_RETURN(std::string text, fetcher_->Post(config_.server, BuildOmahaRequest(req),
                                                           "text/xml", kMaxResponse));
  auto parsed = ParseOmahaResponse(text, app_id, /*expect_updatecheck=*/false);
  if (!parsed) return std::unexpected(parsed.error().WithContext(http::RedactUrl(config_.server)));
  return {};
}

}  // namespace basalt::fleet
