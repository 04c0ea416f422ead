#include "daemon/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>

#include "common/fd.h"
#include "common/line_reader.h"
#include "common/time_util.h"
#include "common/version.h"

namespace basalt::daemon {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

// Values may be quoted as in shell-style env files: KEY="Thu 04:00" or KEY='x'.
Result<std::string> Unquote(std::string_view v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) {
    if (v.back() != v.front()) return Fail(ErrorKind::kInvalidInput, "unterminated quote");
    return std::string(v.substr(1, v.size() - 2));
  }
  return std::string(v);
}

bool ParseInt(std::string_view s, int64_t& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

Status ApplyEtcdKey(std::string_view key, const std::string& value, EtcdLockSettings& etcd) {
  if (key == "ETCD_ENDPOINTS") {
    etcd.endpoints.clear();
    std::string_view rest = value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view ep = Trim(rest.substr(0, comma));
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
      if (ep.empty()) continue;
      if (!ep.starts_with("http://") && !ep.starts_with("https://")) {
        return Failf(ErrorKind::kInvalidInput,
                     "ETCD_ENDPOINTS: '{}' is not an http:// or https:// URL", ep);
      }
      etcd.endpoints.emplace_back(ep);
    }
    if (etcd.endpoints.empty()) return Fail(ErrorKind::kInvalidInput, "ETCD_ENDPOINTS is empty");
  } else if (key == "ETCD_LOCK_GROUP") {
    bool ok = !value.empty() && value.size() <= 128 &&
              std::all_of(value.begin(), value.end(), [](unsigned char c) {
                return std::isalnum(c) || c == '.' || c == '_' || c == '-';
              });
    if (!ok) {
      return Failf(ErrorKind::kInvalidInput,
                   "ETCD_LOCK_GROUP '{}' may only hold letters, digits, '.', '_' and '-'", value);
    }
    etcd.group = value;
  } else if (key == "ETCD_MAX_HOLDERS") {
    int64_t n = 0;
    if (!ParseInt(value, n) || n < 1) {
      return Failf(ErrorKind::kInvalidInput, "ETCD_MAX_HOLDERS '{}' is not a number >= 1", value);
    }
    etcd.max_holders = n;
  } else if (key == "ETCD_LOCK_TTL") {
    auto d = ParseDuration(value);
    if (!d) return Failf(ErrorKind::kInvalidInput, "ETCD_LOCK_TTL: {}", d.error().message());
    // The slot is kept through a reboot with nobody refreshing it: it must outlast one.
    if (*d < std::chrono::minutes(1)) {
      return Fail(ErrorKind::kInvalidInput, "ETCD_LOCK_TTL must be at least 1m");
    }
    etcd.lease_ttl = *d;
  } else if (key == "ETCD_CAFILE") {
    etcd.ca_file = value;
  } else if (key == "ETCD_CERTFILE") {
    etcd.cert_file = value;
  } else if (key == "ETCD_KEYFILE") {
    etcd.key_file = value;
  } else {
    return Failf(ErrorKind::kInvalidInput, "unknown key {}", key);
  }
  return {};
}

}  // namespace

std::string_view RebootStrategyName(RebootStrategy s) {
  switch (s) {
    case RebootStrategy::kOff:
      return "off";
    case RebootStrategy::kReboot:
      return "reboot";
    case RebootStrategy::kWindow:
      return "window";
    case RebootStrategy::kEtcdLock:
      return "etcd-lock";
  }
  return "unknown";
}

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  // One grammar for update.conf and every CLI option (systemd.time(7)'s spans).
  return basalt::ParseDuration(Trim(text), "duration");
}

Result<RebootWindow> ParseWindowStart(std::string_view text) {
  static constexpr std::string_view kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  RebootWindow w;
  text = Trim(text);
  std::string_view time = text;
  if (auto sp = text.find(' '); sp != std::string_view::npos) {
    std::string day(Trim(text.substr(0, sp)));
    std::transform(day.begin(), day.end(), day.begin(), ::tolower);
    auto it = std::find_if(std::begin(kDays), std::end(kDays), [&](std::string_view d) {
      return day.starts_with(d) && day.size() >= 3;
    });
    if (it == std::end(kDays)) {
      return Failf(ErrorKind::kInvalidInput, "unknown weekday '{}' in window start '{}'", day,
                   text);
    }
    w.weekday = static_cast<int>(it - std::begin(kDays));
    time = Trim(text.substr(sp + 1));
  }
  auto colon = time.find(':');
  int64_t hh = -1, mm = -1;
  if (colon == std::string_view::npos || !ParseInt(time.substr(0, colon), hh) ||
      !ParseInt(time.substr(colon + 1), mm) || hh < 0 || hh > 23 || mm < 0 || mm > 59) {
    return Failf(ErrorKind::kInvalidInput, "invalid window start '{}' (use HH:MM or 'Thu 04:00')",
                 text);
  }
  w.minute_of_day = static_cast<int>(hh * 60 + mm);
  return w;
}

Status ApplyConfigText(std::string_view text, std::string_view name, UpdateConfig& cfg) {
  int line_no = 0;
  std::optional<RebootWindow> window_start;
  std::optional<std::chrono::seconds> window_length;
  LineReader lines(text);
  std::string_view raw;
  while (lines.Next(&raw)) {
    line_no = lines.line_no();
    std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto fail = [&](const std::string& why) {
      return Failf(ErrorKind::kInvalidInput, "{}:{}: {}", name, line_no, why);
    };
    size_t eq = line.find('=');
    if (eq == std::string_view::npos)
      return fail(fmt::format("expected KEY=value, got '{}'", line));
    std::string_view key = Trim(line.substr(0, eq));
    auto value_or = Unquote(Trim(line.substr(eq + 1)));
    if (!value_or) return fail(value_or.error().message());
    const std::string& value = *value_or;

    if (key == "SERVER") {
      cfg.server = value;
    } else if (key == "CHANNEL" || key == "GROUP") {  // GROUP is Flatcar's spelling
      if (value.empty()) return fail("CHANNEL must not be empty");
      cfg.channel = value;
    } else if (key == "PIN") {
      if (!value.empty()) {
        if (auto v = CheckVersion(value, "PIN"); !v) return fail(v.error().message());
      }
      cfg.pin = value.empty() ? std::nullopt : std::optional(value);
    } else if (key == "CHECK_INTERVAL" || key == "HEALTH_TIMEOUT") {
      auto d = ParseDuration(value);
      if (!d) return fail(fmt::format("{}: {}", key, d.error().message()));
      if (d->count() == 0) return fail(fmt::format("{} must be positive", key));
      (key == "CHECK_INTERVAL" ? cfg.check_interval : cfg.health_timeout) = *d;
    } else if (key == "BOOT_TRIES") {
      int tries = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), tries);
      if (ec != std::errc() || end != value.data() + value.size() || tries < 1 || tries > 15) {
        return fail(fmt::format("BOOT_TRIES '{}' is not a number from 1 to 15", value));
      }
      cfg.boot_tries = tries;
    } else if (key == "REBOOT_STRATEGY") {
      if (value == "off")
        cfg.reboot_strategy = RebootStrategy::kOff;
      else if (value == "reboot")
        cfg.reboot_strategy = RebootStrategy::kReboot;
      else if (value == "window")
        cfg.reboot_strategy = RebootStrategy::kWindow;
      else if (value == "etcd-lock")
        cfg.reboot_strategy = RebootStrategy::kEtcdLock;
      else
        return fail(fmt::format("REBOOT_STRATEGY '{}' is not one of off, reboot, window, etcd-lock",
                                value));
    } else if (key == "REBOOT_WINDOW_START") {
      auto w = ParseWindowStart(value);
      if (!w) return fail(w.error().message());
      window_start = *w;
    } else if (key == "REBOOT_WINDOW_LENGTH") {
      auto d = ParseDuration(value);
      if (!d) return fail(fmt::format("REBOOT_WINDOW_LENGTH: {}", d.error().message()));
      if (d->count() == 0 || *d > std::chrono::hours(24 * 7)) {
        return fail("REBOOT_WINDOW_LENGTH must be between 1s and 7d");
      }
      window_length = *d;
    } else if (key == "PROTOCOL") {
      if (value == "repository" || value == "basalt")
        cfg.protocol = UpdateProtocol::kRepository;
      else if (value == "omaha")
        cfg.protocol = UpdateProtocol::kOmaha;
      else
        return fail(fmt::format("PROTOCOL '{}' is not one of repository, omaha", value));
    } else if (key == "OMAHA_APP_ID") {
      cfg.omaha_app_id = value;
    } else if (key == "OMAHA_INSECURE_HTTP_FOR_TESTING") {
      if (value != "yes" && value != "no") {
        return fail("OMAHA_INSECURE_HTTP_FOR_TESTING must be yes or no");
      }
      cfg.omaha_insecure_http = value == "yes";
    } else if (key == "ROOT_SERVER") {
      cfg.root_server = value;
    } else if (key == "THRESHOLD") {
      size_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > 16) {
        return fail(fmt::format("THRESHOLD '{}' is not a number from 1 to 16", value));
      }
      cfg.threshold = n;
    } else if (key == "METRICS_PATH") {
      cfg.metrics_path = value;
    } else if (key == "METADATA_TIMEOUT" || key == "DOWNLOAD_MIN_RATE_WINDOW") {
      auto d = ParseDuration(value);
      if (!d) return fail(fmt::format("{}: {}", key, d.error().message()));
      if (*d > std::chrono::hours(24)) return fail(fmt::format("{} must be at most 1d", key));
      if (key == "METADATA_TIMEOUT") {
        cfg.metadata_timeout = *d;  // 0: no limit
      } else {
        if (d->count() == 0) return fail("DOWNLOAD_MIN_RATE_WINDOW must be positive");
        cfg.download_min_rate_window = *d;
      }
    } else if (key == "DOWNLOAD_MIN_RATE") {
      int64_t kib = 0;
      if (!ParseInt(value, kib) || kib < 0 || kib > 1024 * 1024) {
        return fail(
            fmt::format("DOWNLOAD_MIN_RATE '{}' is not a number of KiB/s (0 = off)", value));
      }
      cfg.download_min_rate_kib = static_cast<uint64_t>(kib);
    } else if (key.starts_with("ETCD_")) {
      if (auto s = ApplyEtcdKey(key, value, cfg.etcd); !s) return fail(s.error().message());
    } else {
      return fail(fmt::format("unknown key {}", key));
    }
  }
  if (window_start || window_length) {
    RebootWindow w = cfg.reboot_window.value_or(RebootWindow{});
    if (window_start) {
      w.weekday = window_start->weekday;
      w.minute_of_day = window_start->minute_of_day;
    }
    if (window_length) w.length = *window_length;
    cfg.reboot_window = w;
  }
  return {};
}

Result<UpdateConfig> LoadUpdateConfig(const std::string& root) {
  namespace fs = std::filesystem;
  fs::path base(root);
  std::vector<fs::path> files = {base / "usr/share/basalt/update.conf",
                                 base / "etc/basalt/update.conf"};
  std::error_code ec;
  fs::path dropins = base / "etc/basalt/update.conf.d";
  if (fs::is_directory(dropins, ec)) {
    std::vector<fs::path> extra;
    for (const auto& e : fs::directory_iterator(dropins, ec)) {
      if (e.path().extension() == ".conf") extra.push_back(e.path());
    }
    std::sort(extra.begin(), extra.end());
    files.insert(files.end(), extra.begin(), extra.end());
  }
  UpdateConfig cfg;
  for (const auto& f : files) {
    if (!fs::exists(f, ec)) continue;
    BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(f.string()));
    BASALT_RETURN_IF_ERROR(ApplyConfigText(text, f.string(), cfg));
  }
  if (cfg.server.empty()) {
    return Fail(ErrorKind::kInvalidInput,
                "no SERVER configured (set SERVER= in /etc/basalt/update.conf)");
  }
  if (cfg.reboot_strategy == RebootStrategy::kWindow &&
      (!cfg.reboot_window || cfg.reboot_window->length.count() == 0)) {
    return Fail(ErrorKind::kInvalidInput,
                "REBOOT_STRATEGY=window needs REBOOT_WINDOW_START and REBOOT_WINDOW_LENGTH");
  }
  if (cfg.reboot_strategy == RebootStrategy::kEtcdLock && cfg.etcd.endpoints.empty()) {
    return Fail(ErrorKind::kInvalidInput, "REBOOT_STRATEGY=etcd-lock needs ETCD_ENDPOINTS");
  }
  if (cfg.etcd.cert_file.empty() != cfg.etcd.key_file.empty()) {
    return Fail(ErrorKind::kInvalidInput, "ETCD_CERTFILE and ETCD_KEYFILE go together");
  }
  // An Omaha answer is not signed: only TLS keeps a network attacker from choosing the offer.
  if (cfg.protocol == UpdateProtocol::kOmaha && !cfg.server.starts_with("https://") &&
      !(cfg.omaha_insecure_http && cfg.server.starts_with("http://"))) {
    return Fail(ErrorKind::kInvalidInput,
                cfg.server.starts_with("http://")
                    ? "PROTOCOL=omaha needs an https:// SERVER (http:// only with "
                      "OMAHA_INSECURE_HTTP_FOR_TESTING=yes, for test rigs)"
                    : "PROTOCOL=omaha needs an https:// SERVER");
  }
  return cfg;
}

}  // namespace basalt::daemon
