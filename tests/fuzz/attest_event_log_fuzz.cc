// The TCG event log parser on hostile bytes (a host under attestation sends its log). What it
// accepts must replay, re-serialize (SHA-256 bank only) and parse back to the same events and
// the same PCR values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "attest/event_log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace basalt::attest;
  auto log = ParseEventLog(std::span(data, size));
  if (!log) {
    if (log.error().kind() != basalt::ErrorKind::kInvalidInput) __builtin_trap();
    if (!log.error().message().starts_with("event log: ")) __builtin_trap();
    return 0;
  }
  if (log->events.size() > kMaxEvents) __builtin_trap();
  const auto pcrs = Replay(*log);
  for (const LogEvent& ev : log->events) {
    if (ev.pcr > kMaxPcrIndex || ev.data.size() > kMaxEventDataBytes) __builtin_trap();
    if (ev.type != kEvNoAction && !pcrs.contains(ev.pcr)) __builtin_trap();
    (void)DescribeEventData(ev.data);
  }
  auto again = ParseEventLog(SerializeEventLog(*log));
  if (!again || again->events.size() != log->events.size()) __builtin_trap();
  for (size_t i = 0; i < log->events.size(); ++i) {
    const LogEvent &a = log->events[i], &b = again->events[i];
    if (a.pcr != b.pcr || a.type != b.type || a.sha256 != b.sha256 || a.data != b.data) {
      __builtin_trap();
    }
  }
  if (Replay(*again) != pcrs || again->startup_locality != log->startup_locality) {
    __builtin_trap();
  }
  return 0;
}
