#include "fleet/metrics.h"

#include <algorithm>

#include "common/atomic_file.h"

namespace basalt::fleet {
namespace {

void Family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

double Seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string FormatMetrics(const UpdateMetrics& m) {
  std::string out;
  Family(out, "basalt_update_state", "gauge",
         "Current state of basalt-updated: 1 for the state it is in, 0 for the others.");
  bool known = std::any_of(std::begin(kKnownStates), std::end(kKnownStates),
                           [&](const char* s) { return m.state == s; });
  for (const char* s : kKnownStates) {
    out += fmt::format("basalt_update_state{{state=\"{}\"}} {}\n", s, m.state == s ? 1 : 0);
  }
  if (!known && !m.state.empty()) {
    out += fmt::format("basalt_update_state{{state=\"{}\"}} 1\n", EscapeLabelValue(m.state));
  }

  Family(out, "basalt_update_info", "gauge",
         "Always 1; the labels carry the running version, the staged next version and the "
         "channel.");
  out += fmt::format(
      "basalt_update_info{{current_version=\"{}\",next_version=\"{}\",channel=\"{}\"}} 1\n",
      EscapeLabelValue(m.current_version), EscapeLabelValue(m.next_version),
      EscapeLabelValue(m.channel));

  Family(out, "basalt_update_last_check_timestamp_seconds", "gauge",
         "Unix time of the last completed update check (0: never).");
  out += fmt::format("basalt_update_last_check_timestamp_seconds {:.3f}\n",
                     m.last_check ? Seconds(*m.last_check) : 0.0);
  Family(out, "basalt_update_last_success_timestamp_seconds", "gauge",
         "Unix time of the last update staged successfully (0: never).");
  out += fmt::format("basalt_update_last_success_timestamp_seconds {:.3f}\n",
                     m.last_success ? Seconds(*m.last_success) : 0.0);

  Family(out, "basalt_update_downloaded_bytes_total", "counter",
         "Payload bytes downloaded, by payload kind.");
  out += fmt::format("basalt_update_downloaded_bytes_total{{kind=\"delta\"}} {}\n",
                     m.downloaded_delta_bytes);
  out += fmt::format("basalt_update_downloaded_bytes_total{{kind=\"full\"}} {}\n",
                     m.downloaded_full_bytes);

  Family(out, "basalt_update_failures_total", "counter", "Failed update attempts, by reason.");
  for (const auto& [reason, n] : m.failures) {
    out += fmt::format("basalt_update_failures_total{{reason=\"{}\"}} {}\n",
                       EscapeLabelValue(reason), n);
  }

  Family(out, "basalt_update_rollbacks_total", "counter",
         "Boots that fell back to the previous slot after an update.");
  out += fmt::format("basalt_update_rollbacks_total {}\n", m.rollbacks);

  Family(out, "basalt_update_rolled_back_release", "gauge",
         "1 for each release this host booted and fell back from, with the channel it follows.");
  for (const auto& release : m.rolled_back_releases) {
    out += fmt::format("basalt_update_rolled_back_release{{release=\"{}\",channel=\"{}\"}} 1\n",
                       EscapeLabelValue(release), EscapeLabelValue(m.channel));
  }

  Family(out, "basalt_update_route", "gauge",
         "1 for the payload route of the update in flight or staged (delta or full), 0 for the "
         "other; both 0 when there is none.");
  for (const char* r : {"delta", "full"}) {
    out += fmt::format("basalt_update_route{{route=\"{}\"}} {}\n", r, m.route == r ? 1 : 0);
  }

  Family(out, "basalt_update_attempt_info", "gauge",
         "Always 1; the label names the release of the last update attempt (none before any).");
  if (!m.attempted_version.empty()) {
    out += fmt::format("basalt_update_attempt_info{{release=\"{}\"}} 1\n",
                       EscapeLabelValue(m.attempted_version));
  }
  return out;
}

Status WriteMetricsFile(const std::string& path, const UpdateMetrics& metrics) {
  auto s = WriteFileAtomic(path, FormatMetrics(metrics), 0644);
  if (!s) return std::unexpected(s.error().WithContext("write metrics"));
  return {};
}

}  // namespace basalt::fleet
