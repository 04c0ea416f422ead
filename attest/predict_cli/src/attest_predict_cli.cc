#include "attest/attest_predict_cli.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "attest/uki_measurements.h"
#include "common/fd.h"

namespace basalt {
namespace {

// Text output follows `systemd-measure calculate` (its "11:sha256=HEX" lines, each after a
// "# PCR[11] Phase <...>" comment), so the two are compared with diff; the stub's own value and
// the Authenticode digest come first, under comments of their own.
void PrintText(const std::string& path, const attest::UkiMeasurements& m) {
  std::printf("# UKI %s\n", path.c_str());
  std::printf("# Authenticode SHA-256 (PCR[4] EV_EFI_BOOT_SERVICES_APPLICATION)\n");
  std::printf("authenticode:sha256=%s\n", m.authenticode_sha256.c_str());
  std::printf("# PCR[11] after systemd-stub\n");
  std::printf("11:sha256=%s\n", m.pcr11.c_str());
  for (std::string_view phase : attest::kPcrPhases) {
    std::printf("# PCR[11] Phase <%.*s>\n", static_cast<int>(phase.size()), phase.data());
    std::printf("11:sha256=%s\n", m.pcr11_phases.at(std::string(phase)).c_str());
  }
}

nlohmann::json ToJson(const std::string& path, const attest::UkiMeasurements& m) {
  nlohmann::json phases = nlohmann::json::object();
  for (const auto& [phase, value] : m.pcr11_phases)
    phases[phase] = value;
  return {{"uki", path},
          {"authenticode_sha256", m.authenticode_sha256},
          {"pcr11", m.pcr11},
          {"pcr11_phases", std::move(phases)}};
}

int RunPredict(const std::vector<std::string>& ukis, bool json) {
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& path : ukis) {
    auto bytes = ReadFileToString(path);
    if (!bytes) return ReportError(bytes.error());
    auto m = attest::MeasureUki(*bytes);
    if (!m) return ReportError(m.error().WithContext(path));
    if (json) {
      out.push_back(ToJson(path, *m));
    } else {
      PrintText(path, *m);
    }
  }
  if (json) PrintJson(out);
  return kExitOk;
}

}  // namespace

void AddAttestPredictCommand(CLI::App& attest, CommandRunner& runner) {
  CLI::App* cmd = attest.add_subcommand(
      "predict",
      "Print the TPM measurements a UKI leads to: its Authenticode digest (PCR 4) and PCR 11 "
      "after systemd-stub and after each systemd-pcrphase phase");
  auto ukis = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("UKI", *ukis, "Unified Kernel Image (signed or not)")->required();
  cmd->add_flag("--json", *json, "One JSON array, an object per UKI");
  cmd->callback(
      [&runner, ukis, json] { runner.Set([ukis, json] { return RunPredict(*ukis, *json); }); });
}

}  // namespace basalt
