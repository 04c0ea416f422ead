#include "common/time_util.h"

#include <ctime>

#include "common/printable.h"

namespace basalt {

Result<TimePoint> ParseTime(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return Failf(ErrorKind::kInvalidInput,
                 "{}: \"{}\" is not an RFC 3339 UTC time like 2026-11-22T05:00:00Z", field,
                 Printable(text, 40));
  };
  // YYYY-MM-DDTHH:MM:SSZ
  if (text.size() != 20) return bad();
  const char* pattern = "dddd-dd-ddTdd:dd:ddZ";
  for (size_t i = 0; i < 20; ++i) {
    if (pattern[i] == 'd') {
      if (text[i] < '0' || text[i] > '9') return bad();
    } else if (text[i] != pattern[i]) {
      return bad();
    }
  }
  auto num = [&](size_t at, size_t len) {
    int v = 0;
    for (size_t i = at; i < at + len; ++i)
      v = v * 10 + (text[i] - '0');
    return v;
  };
  std::chrono::year_month_day ymd{std::chrono::year(num(0, 4)),
                                  std::chrono::month(static_cast<unsigned>(num(5, 2))),
                                  std::chrono::day(static_cast<unsigned>(num(8, 2)))};
  int hh = num(11, 2), mm = num(14, 2), ss = num(17, 2);
  if (!ymd.ok() || hh > 23 || mm > 59 || ss > 59) return bad();
  return TimePoint(std::chrono::sys_days(ymd).time_since_epoch() + std::chrono::hours(hh) +
                   std::chrono::minutes(mm) + std::chrono::seconds(ss));
}

std::string FormatTime(TimePoint t) {
  auto days = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{t - days};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

TimePoint Now() {
  return std::chrono::floor<std::chrono::seconds>(Clock::now());
}

Result<std::chrono::seconds> ParseDuration(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return Failf(ErrorKind::kInvalidInput,
                 "{}: \"{}\" is not a duration like 90, 30s, 15m, 6h, 7d or 1d12h", field,
                 Printable(text, 40));
  };
  if (text.empty() || text.size() > 32) return bad();
  int64_t total = 0;
  int64_t cur = 0;
  bool have_digits = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      cur = cur * 10 + (c - '0');
      if (cur > 100LL * 365 * 86400) return bad();
      have_digits = true;
      continue;
    }
    if (!have_digits) return bad();
    int64_t unit;
    switch (c) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        return bad();
    }
    total += cur * unit;
    cur = 0;
    have_digits = false;
  }
  total += cur;  // a bare trailing number is seconds
  if (total > 100LL * 365 * 86400) return bad();
  return std::chrono::seconds(total);
}

std::string FormatDuration(std::chrono::seconds d) {
  int64_t s = d.count();
  if (s == 0) return "0s";
  std::string out;
  for (auto [unit, name] :
       {std::pair<int64_t, char>{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}}) {
    if (s >= unit) {
      out += fmt::format("{}{}", s / unit, name);
      s %= unit;
    }
  }
  return out;
}

}  // namespace basalt
