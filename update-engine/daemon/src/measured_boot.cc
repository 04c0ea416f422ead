#include "daemon/measured_boot.h"

#include <algorithm>
#include <cctype>

#include "common/fd.h"

namespace basalt::update {

MeasuredBootReport JudgeMeasuredBoot(const std::optional<MeasuredBootExpectation>& expectation,
                                     std::string_view running_version,
                                     std::string_view running_slot,
                                     const Result<std::string>& measured_pcr11) {
  if (!measured_pcr11) {
    return {.code = "no-tpm",
            .pcr11 = "",
            .message = fmt::format("PCR 11 not read: {}", measured_pcr11.error().message()),
            .alarming = false};
  }
  const std::string& pcr11 = *measured_pcr11;
  // A prediction binds one slot of one release: after a rollback the other slot runs, and the
  // expectation recorded for the update says nothing about it.
  if (!expectation || expectation->slot != running_slot ||
      expectation->version != running_version) {
    return {.code = "no-prediction",
            .pcr11 = pcr11,
            .message = fmt::format("no signed prediction for release {} in slot {}",
                                   running_version, running_slot),
            .alarming = false};
  }
  if (std::find(expectation->pcr11.begin(), expectation->pcr11.end(), pcr11) !=
      expectation->pcr11.end()) {
    return {.code = "as-predicted",
            .pcr11 = pcr11,
            .message = fmt::format("PCR 11 is as release {} (slot {}) predicts", running_version,
                                   running_slot),
            .alarming = false};
  }
  return {.code = "differs",
          .pcr11 = pcr11,
          .message = fmt::format(
              "PCR 11 is {}, which release {} (slot {}) does not predict: this boot is not the "
              "release as built",
              pcr11, running_version, running_slot),
          .alarming = true};
}

Result<std::string> ReadSysfsPcr(const std::string& dir, int index) {
  const std::string path = fmt::format("{}/{}", dir, index);
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  if (text.size() != 64 || !std::all_of(text.begin(), text.end(),
                                        [](unsigned char c) { return std::isxdigit(c) != 0; })) {
    return Failf(ErrorKind::kInvalidInput, "{}: not a SHA-256 PCR value (64 hex digits)", path);
  }
  for (char& c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace basalt::update
