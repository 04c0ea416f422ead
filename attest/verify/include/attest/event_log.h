// The TCG PC Client crypto-agile event log (TCG PC Client Platform Firmware Profile, section
// 10), as Linux exposes it in /sys/kernel/security/tpm0/binary_bios_measurements: what firmware,
// the boot loader and systemd-stub extended into which PCR. The log is not signed; it is only
// believed where its replay equals PCR values a TPM quote vouches for. It arrives from the host
// being checked, so the parser treats every byte as hostile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/hash.h"

namespace basalt::attest {

// Event types this project looks at (TCG PC Client PFP, table 9).
inline constexpr uint32_t kEvNoAction = 0x00000003;
inline constexpr uint32_t kEvIpl = 0x0000000D;
inline constexpr uint32_t kEvEfiBootServicesApplication = 0x80000003;

// Caps: a real log holds a few hundred events of at most a few KiB (a Secure Boot db is the
// largest); these bound memory and time on a hostile log.
inline constexpr size_t kMaxLogBytes = 16 << 20;
inline constexpr size_t kMaxEvents = 20000;
inline constexpr size_t kMaxEventDataBytes = 1 << 20;
// PCRs 0..23 of a PC Client TPM.
inline constexpr uint32_t kMaxPcrIndex = 23;

struct LogEvent {
  uint32_t pcr = 0;
  uint32_t type = 0;
  Sha256Digest sha256 = {};  // the SHA-256 bank's digest (zeros for EV_NO_ACTION)
  std::vector<uint8_t> data = {};
};

struct EventLog {
  // The TCG_PCR_EVENT2 entries after the Spec ID event, in log order.
  std::vector<LogEvent> events = {};
  // PCR 0's starting locality, from an EV_NO_ACTION "StartupLocality" event in `events` (0
  // without one).
  uint8_t startup_locality = 0;
};

// Parses the whole log. Fails with one kInvalidInput line naming the event and the rule it
// breaks ("event log: event 12: digest count 9 exceeds the 2 algorithms of the Spec ID event").
// Every event must carry a SHA-256 digest: the verifier replays the SHA-256 bank only.
Result<EventLog> ParseEventLog(std::span<const uint8_t> bytes);

// The SHA-256 bank's PCR values the log leads to, for each PCR that has at least one extending
// event (EV_NO_ACTION events are not extended).
std::map<uint32_t, Sha256Digest> Replay(const EventLog& log);

// A log with the SHA-256 bank only, as firmware would write it (the Spec ID event, then each of
// `events` as TCG_PCR_EVENT2). For tests and for recording synthetic measurements.
std::vector<uint8_t> SerializeEventLog(const EventLog& log);

// The text of an event's data for messages: printable ASCII, or UTF-16LE as systemd-stub
// writes PCR 11 section names, else hex of the first bytes.
std::string DescribeEventData(std::span<const uint8_t> data);

}  // namespace basalt::attest
