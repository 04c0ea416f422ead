// Times in metadata are RFC 3339 UTC with a 'Z' and whole seconds ("2026-11-22T05:00:00Z"),
// one spelling only, so signed documents compare and diff cleanly.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::sys_seconds;

Result<TimePoint> ParseTime(std::string_view text, std::string_view field);
std::string FormatTime(TimePoint t);
// A time an operator types: "now", or RFC 3339 with a 'Z' or a numeric offset
// ("2026-11-22T07:00:00+02:00"), 'T' or a space between date and time, fractional seconds
// dropped. Signed documents keep ParseTime's one spelling.
Result<TimePoint> ParseTimeInput(std::string_view text, std::string_view field, TimePoint now);
TimePoint Now();

// systemd.time(7)'s time spans, the one grammar of every CLI option and update.conf: "90"
// (seconds), "30s", "15min", "1h 30min", "1.5h", "7d", "1w", "2 weeks", "1M" (30.44 days),
// "1y"; units s/sec/second(s), m/min/minute(s), h/hr/hour(s), d/day(s), w/week(s),
// M/month(s), y/year(s); terms add up. At most 100 years. Sub-second parts are dropped.
Result<std::chrono::seconds> ParseDuration(std::string_view text, std::string_view field);
std::string FormatDuration(std::chrono::seconds d);

}  // namespace basalt
