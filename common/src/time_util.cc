#include "common/time_util.h"

#include <ctime>
#include <optional>

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

Result<TimePoint> ParseTimeInput(std::string_view text, std::string_view field, TimePoint now) {
  if (text == "now") return now;
  auto bad = [&] {
    return Failf(ErrorKind::kInvalidInput,
                 "{}: \"{}\" is not \"now\" or an RFC 3339 time like 2026-11-22T05:00:00Z or "
                 "2026-11-22T07:00:00+02:00",
                 field, Printable(text, 40));
  };
  if (text.size() < 20 || text.size() > 40) return bad();
  std::string canonical(text.substr(0, 19));
  if (canonical[10] == ' ' || canonical[10] == 't') canonical[10] = 'T';
  canonical += 'Z';
  std::string_view rest = text.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    size_t digits = 1;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9')
      ++digits;
    if (digits == 1) return bad();
    rest.remove_prefix(digits);
  }
  std::chrono::seconds offset{0};
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    auto two = [&](size_t at) -> int {
      char a = rest[at], b = rest[at + 1];
      if (a < '0' || a > '9' || b < '0' || b > '9') return -1;
      return (a - '0') * 10 + (b - '0');
    };
    int hh = two(1), mm = two(4);
    if (hh < 0 || mm < 0 || hh > 23 || mm > 59) return bad();
    offset = std::chrono::hours(hh) + std::chrono::minutes(mm);
    if (rest[0] == '-') offset = -offset;
  } else {
    return bad();
  }
  auto t = ParseTime(canonical, field);
  if (!t) return bad();
  return *t - offset;  // local time = UTC + offset
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

namespace {

constexpr int64_t kMaxDurationSeconds = 100LL * 366 * 86400;

// systemd.time(7)'s units, down to seconds (a duration here never needs less).
std::optional<int64_t> UnitSeconds(std::string_view unit) {
  struct Unit {
    std::string_view name;
    int64_t seconds;
  };
  static constexpr Unit kUnits[] = {
      {"s", 1},        {"sec", 1},         {"second", 1},
      {"seconds", 1},  {"m", 60},          {"min", 60},
      {"minute", 60},  {"minutes", 60},    {"h", 3600},
      {"hr", 3600},    {"hour", 3600},     {"hours", 3600},
      {"d", 86400},    {"day", 86400},     {"days", 86400},
      {"w", 604800},   {"week", 604800},   {"weeks", 604800},
      {"M", 2629800},  {"month", 2629800}, {"months", 2629800},
      {"y", 31557600}, {"year", 31557600}, {"years", 31557600},
  };
  for (const Unit& u : kUnits) {
    if (u.name == unit) return u.seconds;
  }
  return std::nullopt;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t';
}

bool IsDigitChar(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

Result<std::chrono::seconds> ParseDuration(std::string_view text, std::string_view field) {
  auto bad = [&](std::string_view why) {
    return Failf(ErrorKind::kInvalidInput,
                 "{}: \"{}\" is not a duration ({}); write e.g. 90, 30s, 15min, 1h 30min, 7d or 1w",
                 field, Printable(text, 40), why);
  };
  if (text.size() > 64) return bad("too long");
  size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && IsSpace(text[i]))
      ++i;
  };
  skip_space();
  if (i == text.size()) return bad("empty");
  int64_t total = 0;
  bool bare_number = false;
  int terms = 0;
  while (i < text.size()) {
    ++terms;
    if (bare_number) return bad("a number without a unit must stand alone");
    size_t start = i;
    int64_t whole = 0;
    while (i < text.size() && IsDigitChar(text[i])) {
      whole = whole * 10 + (text[i] - '0');
      if (whole > kMaxDurationSeconds) return bad("longer than 100 years");
      ++i;
    }
    // A fraction ("1.5h"): up to 9 digits, cut to whole seconds below.
    int64_t frac = 0, frac_scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      size_t fstart = i;
      while (i < text.size() && IsDigitChar(text[i])) {
        if (frac_scale < 1000000000) {
          frac = frac * 10 + (text[i] - '0');
          frac_scale *= 10;
        }
        ++i;
      }
      if (i == fstart) return bad("a '.' must be followed by digits");
    }
    if (i == start) return bad("expected a number");
    skip_space();
    size_t ustart = i;
    while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z') || text[i] == 'M'))
      ++i;
    std::string_view unit = text.substr(ustart, i - ustart);
    int64_t mult = 1;
    if (unit.empty()) {
      if (terms > 1) return bad("a number without a unit must stand alone");
      bare_number = true;  // seconds, as systemd's default unit
    } else if (auto u = UnitSeconds(unit)) {
      mult = *u;
    } else {
      return bad(fmt::format("unknown unit \"{}\"", Printable(unit, 16)));
    }
    if (whole > kMaxDurationSeconds / mult) return bad("longer than 100 years");
    total += whole * mult + frac * mult / frac_scale;
    if (total > kMaxDurationSeconds) return bad("longer than 100 years");
    skip_space();
  }
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
