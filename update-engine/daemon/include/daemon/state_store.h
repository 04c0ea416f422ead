// The update flow's persistent state: one small JSON document in the state directory
// (/var/lib/basalt/state.json on a host), replaced atomically (temp file, fsync, rename, fsync
// directory) on every transition, so a restart after a crash or power loss continues from the
// last recorded phase and never redoes a finished update.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "daemon/measured_boot.h"

namespace basalt::update {

enum class Phase {
  kIdle,
  kChecking,
  kDownloading,
  kApplying,
  kVerifying,
  kFinalizing,
  kUpdatedNeedReboot,
  kPendingHealth,
  kGood,
  kRolledBack,
};
std::string_view PhaseName(Phase p);  // "idle", "checking", ..., "updated-need-reboot", ...
Result<Phase> ParsePhase(std::string_view name);

// The payload the flow committed to; kept so a restart continues the same download/apply.
struct PlannedPayload {
  bool delta = false;
  std::string from_version;
  std::string url;  // absolute
  uint64_t size = 0;
  std::string sha256;
  // Further URLs of the same payload, tried in order when `url` fails (an Omaha server's list).
  std::vector<std::string> mirrors;
  bool operator==(const PlannedPayload&) const = default;
};

struct UpdateState {
  Phase phase = Phase::kIdle;
  // The update in flight (or staged, or booted and pending): target version and slot.
  std::string version;
  std::string from_version;
  std::string target_slot;     // "A" or "B"
  std::string usr_root_hash;   // the signed root hash of the new /usr
  std::string kernel_version;  // kernel inside the new /usr
  // The release's own kernel arguments (UpdateOffer::kernel_cmdline); nullopt if not said.
  std::optional<std::string> kernel_cmdline;
  // The release's boot artifacts (UpdateOffer::boot_artifacts): name -> hex SHA-256.
  std::map<std::string, std::string> boot_artifacts;
  // Per slot, what the signed release last installed there predicts for PCR 11; kept across
  // updates (the running slot's entry outlives the next update to the other slot).
  std::map<std::string, MeasuredBootExpectation> pcr11_predictions;
  // This boot's measured-boot judgement (JudgeMeasuredBoot at daemon start); code "" before.
  MeasuredBootReport measured_boot;
  std::optional<PlannedPayload> payload;
  std::optional<PlannedPayload> full_payload;  // fallback when a delta's source does not match
  bool fell_back_to_full = false;              // reported in status
  std::string fallback_reason;

  // What the last check found (check-only runs): the version a later apply would install.
  std::string available_version;
  // After boot: the slot/version that was pending health (pending-health, good, rolled-back).
  std::string booted_version;
  // The boot in which the update was staged: a later start in the same boot is a daemon
  // restart, not a reboot.
  std::string staged_boot_id;

  uint64_t downloaded_bytes = 0;  // bytes received from the network for this update, all tries
  // A sentence for humans, and beside each a stable kebab-case code for scripts (docs/daemon.md
  // lists them): last_error_code is Error::code() ("expired", "integrity", ...),
  // wait_reason_code the decision's or the reboot strategy's ("up-to-date", "reboot-window").
  // A code is "" exactly when its sentence is (NormalizeCodes).
  std::string last_error;
  std::string last_error_code;
  std::string wait_reason;
  std::string wait_reason_code;
  std::string last_check;  // RFC 3339 UTC
  // RFC 3339 UTC: the newest signed time verified (HostFacts::not_before); "" none.
  std::string time_floor;
  // Channel metadata accepted so far, per channel name: a lower version is a replay, the same
  // version with other content is refused (repo/decision.h).
  struct SeenChannel {
    uint64_t metadata_version = 0;
    std::string sha256;
    // The ids of the keys that signed it, comma-separated: once a root revokes one of them the
    // record no longer binds (repo::HostState::last_metadata_keys).
    std::string keys;
    bool operator==(const SeenChannel&) const = default;
  };
  std::map<std::string, SeenChannel> seen_channels;
  // From state files written before per-channel records: one version for whatever channel the
  // host followed then. Used only while seen_channels is empty, for the configured channel.
  std::optional<uint64_t> legacy_metadata_version;
  // Releases that were booted and rolled back: not retried until the channel offers another
  // version or an operator forces one.
  std::set<std::string> rolled_back_releases;

  // Running totals since the state directory was created (metrics and status; never reset by a
  // new update).
  std::string last_success;             // RFC 3339 UTC: when an update was last staged
  uint64_t downloaded_delta_total = 0;  // payload bytes received, by payload kind
  uint64_t downloaded_full_total = 0;
  std::map<std::string, uint64_t> failures;  // failed runs by FailureReason()
  uint64_t rollbacks = 0;                    // booted updates that fell back

  bool operator==(const UpdateState&) const = default;
};

// Records `e` as the last error: its sentence (one line, URLs redacted by the caller) and code.
void SetLastError(UpdateState& s, std::string sentence, std::string code);
void ClearLastError(UpdateState& s);
void SetWaitReason(UpdateState& s, std::string code, std::string sentence);
void ClearWaitReason(UpdateState& s);
// Drops a code whose sentence is gone, and names one that is missing ("unknown"), so what is
// saved and published never pairs a sentence with another event's code.
void NormalizeCodes(UpdateState& s);

// A failed run's stable reason for the failures counter: "download", "integrity", "policy",
// "invalid-input", "not-found", "unsupported", "cancelled", "io", "internal".
std::string FailureReason(const Error& e, Phase phase);

// The booted update did not come up: the bootloader fell back to `booted_slot`. Records the
// rollback (state, skipped release, counter, last_error).
void RecordRollback(UpdateState& s, std::string_view booted_slot);

std::string SerializeState(const UpdateState& s);
// Strict enough to refuse a damaged file with a message naming the field.
Result<UpdateState> ParseState(std::string_view text);

class StateStore {
 public:
  explicit StateStore(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string path() const { return dir_ + "/state.json"; }
  // Creates the directory (0700). A missing file is a fresh idle state.
  Result<UpdateState> Load() const;
  Status Save(const UpdateState& s) const;
  // Runs after every successful Save (the metrics file follows the persisted state).
  void set_on_save(std::function<void(const UpdateState&)> f) { on_save_ = std::move(f); }

 private:
  std::string dir_;
  std::function<void(const UpdateState&)> on_save_;
};

}  // namespace basalt::update
