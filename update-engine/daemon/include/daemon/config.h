// The host's update configuration: Flatcar-style KEY=value files, read in order
// /usr/share/basalt/update.conf, /etc/basalt/update.conf, /etc/basalt/update.conf.d/*.conf
// (sorted), later files winning. Unknown keys and bad values are startup errors that name the
// file and line, because a typo in REBOOT_STRATEGY must not silently mean "reboot now".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::daemon {

enum class RebootStrategy { kOff, kReboot, kWindow, kEtcdLock };
std::string_view RebootStrategyName(RebootStrategy s);

// A weekly or daily maintenance window, in the host's local time. Flatcar spelling:
// REBOOT_WINDOW_START="Thu 04:00" (or "04:00" for every day), REBOOT_WINDOW_LENGTH="1h30m".
struct RebootWindow {
  std::optional<int> weekday;  // 0 = Sunday … 6 = Saturday; absent = every day
  int minute_of_day = 0;
  std::chrono::seconds length{0};
};

// Where offers come from: the static signed repository, or an Omaha v3 server (Nebraska).
enum class UpdateProtocol { kRepository, kOmaha };

// REBOOT_STRATEGY=etcd-lock (docs/fleet.md).
struct EtcdLockSettings {
  std::vector<std::string> endpoints;        // ETCD_ENDPOINTS, comma-separated http(s) URLs
  std::string group = "default";             // ETCD_LOCK_GROUP
  int64_t max_holders = 1;                   // ETCD_MAX_HOLDERS, used when the group is new
  std::chrono::seconds lease_ttl{3600};      // ETCD_LOCK_TTL: a dead holder's slot frees after this
  std::string ca_file, cert_file, key_file;  // ETCD_CAFILE, ETCD_CERTFILE, ETCD_KEYFILE
};

struct UpdateConfig {
  std::string server;  // http(s)://, file:// or a directory path
  std::string channel = "stable";
  std::optional<std::string> pin;
  std::chrono::seconds check_interval{3600};
  RebootStrategy reboot_strategy = RebootStrategy::kReboot;
  std::optional<RebootWindow> reboot_window;
  std::chrono::seconds health_timeout{600};
  int boot_tries = 3;  // BOOT_TRIES: boots of a new slot before the bootloader falls back
  UpdateProtocol protocol = UpdateProtocol::kRepository;  // PROTOCOL=repository|omaha
  std::string omaha_app_id;                               // OMAHA_APP_ID
  // OMAHA_INSECURE_HTTP_FOR_TESTING=yes: allow http:// for the Omaha server and its payload
  // URLs. Only for test rigs; a network attacker then chooses what the host is offered.
  bool omaha_insecure_http = false;
  // ROOT_SERVER: with PROTOCOL=omaha, a static repository (http(s)://, file:// or a directory)
  // whose roots/<N>.json the host follows before every check, so rotations and revocations
  // reach Omaha hosts too. Empty: the root shipped in /usr is all an Omaha host knows.
  std::string root_server;
  // THRESHOLD: distinct trusted signatures every channel, release and payload needs (1-16).
  size_t threshold = 1;
  EtcdLockSettings etcd;
  // METRICS_PATH ("" = off); the default is fleet::kDefaultMetricsPath (node-exporter's dir).
  std::string metrics_path = "/var/lib/prometheus/node-exporter/basalt.prom";
  // METADATA_TIMEOUT: a channel or release document must arrive within this (0 = no limit).
  std::chrono::seconds metadata_timeout{60};
  // DOWNLOAD_MIN_RATE (KiB/s, 0 = no floor) over DOWNLOAD_MIN_RATE_WINDOW: a payload transfer
  // slower than this ends the run (the plan is kept; the next check resumes). Below 4 KiB/s a
  // 300 MiB full payload would take a day; a mirror that slow is broken, not busy.
  uint64_t download_min_rate_kib = 4;
  std::chrono::seconds download_min_rate_window{120};
};

// Parses one file's text into cfg, applying its keys over what is there. `name` is used in
// error messages ("/etc/basalt/update.conf:7: unknown key REBOOT_STRATGY").
Status ApplyConfigText(std::string_view text, std::string_view name, UpdateConfig& cfg);

// Reads the standard locations under `root` ("/" on a host; a temp dir in tests). Missing
// files are fine; unreadable ones are errors. Validates cross-key rules at the end (window
// strategy needs a window; a server is required).
Result<UpdateConfig> LoadUpdateConfig(const std::string& root = "/");

// "90", "90s", "15m", "1h", "1h30m", "2d": Flatcar/systemd-style spans; at least one unit digit.
Result<std::chrono::seconds> ParseDuration(std::string_view text);
Result<RebootWindow> ParseWindowStart(std::string_view text);

}  // namespace basalt::daemon
