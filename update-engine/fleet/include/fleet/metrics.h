// The daemon's numbers in Prometheus text format, for node_exporter's textfile collector
// (--collector.textfile.directory). The daemon fills UpdateMetrics and rewrites the file
// atomically after every state change, so a scrape never sees half a file. The metric names and
// labels are a contract with dashboards, alerts and `basalt rollout guard` (docs/fleet.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "common/error.h"

namespace basalt::fleet {

// Debian's prometheus-node-exporter reads its textfile directory as packaged (no ARGS): it runs
// as user prometheus, which cannot enter the daemon's state directory (0700), so the default is
// a world-readable file there. The unit lets the daemon write that directory.
inline constexpr char kDefaultMetricsPath[] = "/var/lib/prometheus/node-exporter/basalt.prom";

struct UpdateMetrics {
  std::string state;  // the daemon's state name: idle, checking, downloading, ...
  std::string current_version;
  std::string next_version;  // empty when nothing is staged
  std::string channel;
  std::optional<std::chrono::system_clock::time_point> last_check;
  std::optional<std::chrono::system_clock::time_point> last_success;
  // Payload bytes received over the network since the state store was created.
  uint64_t downloaded_delta_bytes = 0;
  uint64_t downloaded_full_bytes = 0;
  // Failed updates by a short stable reason ("download", "integrity", "source-mismatch", ...).
  std::map<std::string, uint64_t> failures;
  uint64_t rollbacks = 0;
  // The releases this host booted and fell back from: lets a fleet view attribute rollbacks to
  // the release that failed (basalt_update_rolled_back_release{release=...}).
  std::set<std::string> rolled_back_releases;
  // How the update in flight or staged arrives: "delta", "full" (also a delta that fell back to
  // the full image), "" when there is none.
  std::string route;
  // The release of the last update attempt, whatever became of it (in flight, staged, booted,
  // failed, rolled back); "" before any. With current_version and the failure counters it tells
  // a host failing to install a release from one that never tried it.
  std::string attempted_version;
};

// The states basalt_update_state always lists (one 1, the rest 0), so dashboards and alerts
// see every series even before a state was ever entered.
inline constexpr const char* kKnownStates[] = {
    "idle",      "checking",   "downloading",         "applying",
    "verifying", "finalizing", "updated-need-reboot", "pending-health",
    "good",      "rolled-back"};

std::string FormatMetrics(const UpdateMetrics& metrics);
// Writes FormatMetrics(metrics) to path with WriteFileAtomic (mode 0644).
Status WriteMetricsFile(const std::string& path, const UpdateMetrics& metrics);

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string EscapeLabelValue(std::string_view value);

}  // namespace basalt::fleet
