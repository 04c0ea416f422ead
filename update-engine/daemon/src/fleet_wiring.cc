#include "daemon/fleet_wiring.h"

#include <filesystem>

#include "common/time_util.h"
#include "fleet/omaha_source.h"
#include "fleet_config.h"
#include "repo/repo_source.h"
#include "repo_update_source.h"

namespace basalt::update {
namespace {

std::optional<std::chrono::system_clock::time_point> Time(const std::string& rfc3339) {
  if (rfc3339.empty()) return std::nullopt;
  auto t = ParseTime(rfc3339, "time");
  // Only a hand-edited state file holds a time the flow did not write; the metrics then show
  // "never", while status shows the text as it is. No logger reaches this pure conversion.
  if (!t) return std::nullopt;
  return std::chrono::system_clock::time_point(*t);
}

std::string Rfc3339(const std::optional<std::chrono::system_clock::time_point>& t) {
  if (!t) return "";
  return FormatTime(std::chrono::floor<std::chrono::seconds>(*t));
}

// An Omaha source on a host with a root: before every check the host follows the root chain of
// ROOT_SERVER's static repository, so the payload keys it checks the Omaha offer against are the
// current release role's (a revoked key stops verifying), and an expired newest root refuses the
// check as on repository hosts.
class RootFollowingSource : public UpdateSource {
 public:
  RootFollowingSource(std::unique_ptr<UpdateSource> inner, http::Fetcher& fetcher,
                      std::string root_server, HostTrust& trust)
      : inner_(std::move(inner)),
        fetcher_(fetcher),
        root_server_(std::move(root_server)),
        trust_(trust) {}

  Result<UpdateOffer> Check(const HostFacts& host) override {
    repo::RepositorySource roots(fetcher_, root_server_);
    // The clock floor, as on repository hosts.
    BASALT_RETURN_IF_ERROR(trust_.Refresh(roots, ExpiryTime(host, Now())));
    return inner_->Check(host);
  }
  Status Report(const HostFacts& host, UpdateEvent event, int code) override {
    return inner_->Report(host, event, code);
  }

 private:
  std::unique_ptr<UpdateSource> inner_;
  http::Fetcher& fetcher_;
  std::string root_server_;
  HostTrust& trust_;
};

}  // namespace

Result<std::unique_ptr<UpdateSource>> MakeUpdateSource(const daemon::UpdateConfig& cfg,
                                                       http::Fetcher& fetcher, HostTrust& trust) {
  if (cfg.server.empty()) return Fail(ErrorKind::kInvalidInput, "no update SERVER configured");
  switch (cfg.protocol) {
    case daemon::UpdateProtocol::kRepository:
      return std::make_unique<RepositoryUpdateSource>(fetcher, cfg.server, trust);
    case daemon::UpdateProtocol::kOmaha: {
      // The flow applies the offered payload only with the host's payload keys (the release
      // role's of its root, with a root), whatever the Omaha server says.
      auto omaha = std::make_unique<fleet::OmahaUpdateSource>(fleet::OmahaConfigFrom(cfg));
      if (cfg.root_server.empty() || !trust.has_root()) return omaha;
      return std::make_unique<RootFollowingSource>(std::move(omaha), fetcher, cfg.root_server,
                                                   trust);
    }
  }
  return Fail(ErrorKind::kInternal, "unknown PROTOCOL");
}

http::FetchOptions FetchOptionsFor(const daemon::UpdateConfig& cfg) {
  http::FetchOptions o;
  o.metadata_timeout_seconds = static_cast<long>(cfg.metadata_timeout.count());
  o.min_rate_bytes_per_second = cfg.download_min_rate_kib * 1024;
  o.min_rate_window_seconds = static_cast<long>(cfg.download_min_rate_window.count());
  return o;
}

std::string NextVersionOf(const UpdateState& s) {
  switch (s.phase) {
    case Phase::kDownloading:
    case Phase::kApplying:
    case Phase::kVerifying:
    case Phase::kFinalizing:
    case Phase::kUpdatedNeedReboot:
      return s.version;
    default:
      return s.available_version;
  }
}

fleet::UpdateMetrics MetricsOf(const UpdateState& s, std::string current_version,
                               std::string channel) {
  fleet::UpdateMetrics m;
  m.state = std::string(PhaseName(s.phase));
  m.current_version = std::move(current_version);
  m.next_version = NextVersionOf(s);
  m.channel = std::move(channel);
  m.last_check = Time(s.last_check);
  m.last_success = Time(s.last_success);
  m.downloaded_delta_bytes = s.downloaded_delta_total;
  m.downloaded_full_bytes = s.downloaded_full_total;
  m.failures = s.failures;
  m.rollbacks = s.rollbacks;
  m.rolled_back_releases = s.rolled_back_releases;
  m.attempted_version = s.version;
  if (s.payload) m.route = s.payload->delta && !s.fell_back_to_full ? "delta" : "full";
  return m;
}

nlohmann::json MetricsJson(const fleet::UpdateMetrics& m) {
  return {{"current_version", m.current_version},
          {"next_version", m.next_version},
          {"last_check", Rfc3339(m.last_check)},
          {"last_success", Rfc3339(m.last_success)},
          {"downloaded_delta_bytes", m.downloaded_delta_bytes},
          {"downloaded_full_bytes", m.downloaded_full_bytes},
          {"failures", m.failures},
          {"rollbacks", m.rollbacks}};
}

std::string MetricsPathFor(const daemon::UpdateConfig& cfg, const std::string& state_dir) {
  // Only the host's own state has the host's node-exporter directory to report to; a disk
  // image's state (--disk --state DIR) or a test's keeps its metrics next to it.
  if (cfg.metrics_path == fleet::kDefaultMetricsPath && state_dir != kHostStateDir) {
    return state_dir + "/metrics.prom";
  }
  return cfg.metrics_path;
}

void WriteMetricsOnSave(StateStore& store, std::string path,
                        std::function<std::string()> current_version, std::string channel,
                        Logger& log) {
  if (path.empty()) {
    store.set_on_save(nullptr);
    return;
  }
  // A host without node-exporter has no textfile directory: that is said once, not at every
  // save, and the update carries on.
  auto warned = std::make_shared<bool>(false);
  store.set_on_save([path = std::move(path), current = std::move(current_version),
                     channel = std::move(channel), warned, &log](const UpdateState& s) {
    auto w = fleet::WriteMetricsFile(path, MetricsOf(s, current ? current() : "", channel));
    if (w) {
      *warned = false;
      return;
    }
    if (*warned) return;
    *warned = true;
    std::error_code ec;
    auto dir = std::filesystem::path(path).parent_path();
    if (!std::filesystem::is_directory(dir, ec)) {
      log.Warn(
          fmt::format("no metrics: {} does not exist (install prometheus-node-exporter, or "
                      "set METRICS_PATH)",
                      dir.string()));
    } else {
      log.Warn("cannot write the metrics file: " + w.error().message());
    }
  });
}

}  // namespace basalt::update
