// The fleet parts as update.conf selects them, for basalt-updated and `basalt update apply --disk`
// alike: PROTOCOL picks the update source, and every persisted state becomes the metrics file.
// The metrics struct (fleet::UpdateMetrics) is the one source of the numbers the metrics file,
// `basalt update status --json` and the D-Bus properties show, so the three agree.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/log.h"
#include "daemon/config.h"
#include "daemon/host_trust.h"
#include "daemon/state_store.h"
#include "daemon/update_source.h"
#include "fleet/metrics.h"
#include "http/fetcher.h"

namespace basalt::update {

// PROTOCOL=repository: the signed static repository at SERVER; PROTOCOL=omaha: the Omaha server
// at SERVER (OMAHA_APP_ID). `fetcher` and `trust` must outlive the source; the repository source
// refreshes `trust` from the repository's root chain at every check.
Result<std::unique_ptr<UpdateSource>> MakeUpdateSource(const daemon::UpdateConfig& cfg,
                                                       http::Fetcher& fetcher, HostTrust& trust);

// The fetcher's time rules from update.conf: METADATA_TIMEOUT for documents, DOWNLOAD_MIN_RATE
// over DOWNLOAD_MIN_RATE_WINDOW for payloads.
http::FetchOptions FetchOptionsFor(const daemon::UpdateConfig& cfg);

// The staged or in-flight version, else the one the last check found (D-Bus NextVersion).
std::string NextVersionOf(const UpdateState& s);

fleet::UpdateMetrics MetricsOf(const UpdateState& s, std::string current_version,
                               std::string channel);
// The metrics as status JSON fields: current_version, next_version, last_check, last_success
// (RFC 3339 or ""), downloaded_delta_bytes, downloaded_full_bytes, failures, rollbacks.
nlohmann::json MetricsJson(const fleet::UpdateMetrics& m);

// The host's state directory (basalt-updated's StateDirectory=basalt).
inline constexpr char kHostStateDir[] = "/var/lib/basalt";

// METRICS_PATH. Its default (node-exporter's textfile directory) is for the host's own state
// (kHostStateDir); with any other state directory (a disk image's --state, a test's) the default
// names that directory's metrics.prom instead.
std::string MetricsPathFor(const daemon::UpdateConfig& cfg, const std::string& state_dir);

// Makes `store` rewrite the metrics file at `path` after every save ("" = no metrics file).
// A failure is logged once (until a write succeeds again), naming a missing directory.
// `current_version` is asked at each save (it changes when a new slot boots). A write failure
// is logged, never fatal: metrics must not stop an update.
void WriteMetricsOnSave(StateStore& store, std::string path,
                        std::function<std::string()> current_version, std::string channel,
                        Logger& log);

}  // namespace basalt::update
