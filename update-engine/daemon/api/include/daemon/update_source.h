// Where the host learns *what* to install: the static signed repository (channels + releases) or an
// Omaha server. Neither decides *whether to trust*: every payload is verified against the host's
// keyring by the applier regardless of the source.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/time_util.h"

namespace basalt::update {

struct HostFacts {
  std::string app_id;  // Omaha app id; unused by the static repository
  std::string current_version;
  std::string current_root_hash;  // hex usr root hash of the running slot
  std::string channel;
  std::string machine_id;
  std::string boot_id;
  std::string oem;
  std::optional<std::string> pin;
  // Replay defence of the static repository: the highest metadata version accepted so far for
  // *this* channel, and that document's SHA-256 (persisted by the flow per channel, so moving a
  // host between channels is not a replay). Omaha ignores them.
  std::optional<uint64_t> last_metadata_version;
  std::string last_metadata_sha256;
  std::string last_metadata_keys;  // the ids of the keys that signed it, comma-separated
  // The newest signed time this host has verified (the `created` time of the newest release it
  // was offered; the state's time_floor). Expiry is judged at no earlier time, so a clock set
  // back (a spoofed NTP answer, a dead RTC battery) cannot revive metadata older than a release
  // the host has already seen. Only signed times move it: a clock that once ran ahead cannot
  // freeze the host.
  std::optional<TimePoint> not_before;
};

// The time expiry is judged at: the clock, but never before the host's signed floor.
inline TimePoint ExpiryTime(const HostFacts& host, TimePoint clock) {
  return host.not_before && *host.not_before > clock ? *host.not_before : clock;
}

struct OfferedPayload {
  bool delta = false;
  std::string from_version;       // delta only
  std::string from_root_hash;     // delta only; empty if the source does not say
  std::vector<std::string> urls;  // tried in order
  uint64_t size = 0;
  std::string sha256;  // hex
};

struct UpdateOffer {
  bool update = false;
  std::string version;
  std::string usr_root_hash;             // empty if the source does not say (Omaha)
  std::vector<OfferedPayload> payloads;  // deltas first, then the full payload
  // The kernel version inside the new /usr (its kernel and initramfs are read from
  // /usr/lib/modules/<kernel_version>/ at finalize); empty if the source does not say.
  std::string kernel_version;
  // The release's own kernel arguments for its boot entries (signed in release.json); nullopt if
  // the source does not say (Omaha, older releases).
  std::optional<std::string> kernel_cmdline;
  // The signed SHA-256 (hex) of each boot artifact the release names ("uki-A" -> ...), which the
  // payload's manifest must carry with the same hash; empty if the source does not say.
  std::map<std::string, std::string> boot_artifacts;
  // The signed PCR 11 predictions per slot ("A"/"B" -> every value a correct boot of that
  // slot's UKI passes through; release.json boot.uki.<slot>.measurements); empty if none.
  std::map<std::string, std::vector<std::string>> pcr11_predictions;
  // The channel metadata version this answer came from, for the flow to persist; nullopt if none.
  std::optional<uint64_t> metadata_version;
  std::string metadata_sha256;  // hex SHA-256 of that channel document
  std::string metadata_keys;    // the ids of the keys that signed it, comma-separated
  // A signed time the decision verified (the offered release's `created`), for the clock floor
  // (HostFacts::not_before); nullopt if none.
  std::optional<TimePoint> signed_time;
  // True when the decision itself is signed (the repository's channel and release documents):
  // then an older version is an operator's signed rollback. An unsigned offer (Omaha) may only
  // move the host forward.
  bool signed_decision = false;
  // When update == false: a stable code ("up-to-date", "pinned", "outside-wave", ...) and a
  // sentence for `status`.
  std::string code;
  std::string reason;
};

// Progress reports a source may forward to its server (Omaha events); the repository ignores them.
enum class UpdateEvent {
  kDownloadStarted,
  kDownloadFinished,
  kUpdatedAndRebooted,
  kFailed,
  kRolledBack
};

class UpdateSource {
 public:
  virtual ~UpdateSource() = default;
  virtual Result<UpdateOffer> Check(const HostFacts& host) = 0;
  virtual Status Report(const HostFacts& host, UpdateEvent event, int error_code) = 0;
};

}  // namespace basalt::update
