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
TimePoint Now();

// "90" (seconds), "30s", "15m", "6h", "7d", "1w", or combinations such as "1d12h".
Result<std::chrono::seconds> ParseDuration(std::string_view text, std::string_view field);
std::string FormatDuration(std::chrono::seconds d);

}  // namespace basalt
