// Whether this boot measured what the release the host runs predicted (issue 20): the running
// slot's PCR 11, as systemd-stub extended it with the UKI's sections (and systemd-pcrphase with
// the boot phases so far), against the values in the signed release metadata that installed
// that slot. A pure judgement, so the daemon, `basalt update status` and the table test agree.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::update {

// What the signed release that installed a slot predicts for it (release.json
// boot.uki.<slot>.measurements): every PCR 11 value a correct boot passes through.
struct MeasuredBootExpectation {
  std::string version;
  std::string slot;                // "A" or "B"
  std::vector<std::string> pcr11;  // lowercase hex, SHA-256 bank
  bool operator==(const MeasuredBootExpectation&) const = default;
};

struct MeasuredBootReport {
  // Stable codes for status, D-Bus and the journal:
  //   "as-predicted"   PCR 11 is one of the release's predicted values
  //   "differs"        PCR 11 is none of them: this boot is not the release as built
  //   "no-prediction"  no signed prediction for the running slot (a factory image, a release
  //                    without measurements, the other slot after a rollback)
  //   "no-tpm"         PCR 11 could not be read
  std::string code;
  std::string pcr11;      // what was measured ("" when unread)
  std::string message;    // one sentence for humans
  bool alarming = false;  // "differs": logged at error priority
  bool operator==(const MeasuredBootReport&) const = default;
};

// PCR `index` of the SHA-256 bank as the kernel shows it (`dir` is
// /sys/class/tpm/tpm0/pcr-sha256 on a host, Linux 5.12 and later), in lowercase hex. The
// kernel reads it from the TPM on each read; no TPM library or device access is needed.
[[nodiscard]] Result<std::string> ReadSysfsPcr(const std::string& dir, int index);

[[nodiscard]] MeasuredBootReport JudgeMeasuredBoot(
    const std::optional<MeasuredBootExpectation>& expectation, std::string_view running_version,
    std::string_view running_slot, const Result<std::string>& measured_pcr11);

}  // namespace basalt::update
