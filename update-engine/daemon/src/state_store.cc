#include "daemon/state_store.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <array>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/fd.h"

namespace basalt::update {
namespace {

constexpr std::array<std::pair<Phase, std::string_view>, 10> kPhases = {{
    {Phase::kIdle, "idle"},
    {Phase::kChecking, "checking"},
    {Phase::kDownloading, "downloading"},
    {Phase::kApplying, "applying"},
    {Phase::kVerifying, "verifying"},
    {Phase::kFinalizing, "finalizing"},
    {Phase::kUpdatedNeedReboot, "updated-need-reboot"},
    {Phase::kPendingHealth, "pending-health"},
    {Phase::kGood, "good"},
    {Phase::kRolledBack, "rolled-back"},
}};

nlohmann::json SeenChannelsJson(const std::map<std::string, UpdateState::SeenChannel>& seen) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, c] : seen) {
    j[name] = {{"metadata_version", c.metadata_version}, {"sha256", c.sha256}};
    if (!c.keys.empty()) j[name]["keys"] = c.keys;
  }
  return j;
}

nlohmann::json PayloadJson(const PlannedPayload& p) {
  return {{"delta", p.delta},   {"from_version", p.from_version},
          {"url", p.url},       {"size", p.size},
          {"sha256", p.sha256}, {"mirrors", p.mirrors}};
}

PlannedPayload PayloadFromJson(const nlohmann::json& j) {
  PlannedPayload p;
  p.delta = j.at("delta").get<bool>();
  p.from_version = j.at("from_version").get<std::string>();
  p.url = j.at("url").get<std::string>();
  p.size = j.at("size").get<uint64_t>();
  p.sha256 = j.at("sha256").get<std::string>();
  if (j.contains("mirrors")) p.mirrors = j.at("mirrors").get<std::vector<std::string>>();
  return p;
}

nlohmann::json PredictionsJson(const std::map<std::string, MeasuredBootExpectation>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [slot, e] : m)
    j[slot] = {{"version", e.version}, {"pcr11", e.pcr11}};
  return j;
}

Result<std::map<std::string, MeasuredBootExpectation>> PredictionsFromJson(
    const nlohmann::json& j) {
  std::map<std::string, MeasuredBootExpectation> m;
  for (const auto& [slot, e] : j.items()) {
    if (slot != "A" && slot != "B") {
      return Failf(ErrorKind::kInvalidInput, "pcr11_predictions: slot \"{}\" is not A or B", slot);
    }
    m[slot] = {.version = e.at("version").get<std::string>(),
               .slot = slot,
               .pcr11 = e.at("pcr11").get<std::vector<std::string>>()};
  }
  return m;
}

nlohmann::json MeasuredBootJson(const MeasuredBootReport& r) {
  return {{"code", r.code}, {"pcr11", r.pcr11}, {"message", r.message}};
}

}  // namespace

std::string_view PhaseName(Phase p) {
  for (const auto& [phase, name] : kPhases) {
    if (phase == p) return name;
  }
  return "unknown";
}

Result<Phase> ParsePhase(std::string_view name) {
  for (const auto& [phase, n] : kPhases) {
    if (n == name) return phase;
  }
  return Failf(ErrorKind::kInvalidInput, "unknown update state \"{}\"", name);
}

std::string SerializeState(const UpdateState& s) {
  nlohmann::json j = {
      {"format", 1},
      {"state", PhaseName(s.phase)},
      {"version", s.version},
      {"from_version", s.from_version},
      {"target_slot", s.target_slot},
      {"usr_root_hash", s.usr_root_hash},
      {"kernel_version", s.kernel_version},
      {"kernel_cmdline",
       s.kernel_cmdline ? nlohmann::json(*s.kernel_cmdline) : nlohmann::json(nullptr)},
      {"boot_artifacts", s.boot_artifacts},
      {"pcr11_predictions", PredictionsJson(s.pcr11_predictions)},
      {"measured_boot", MeasuredBootJson(s.measured_boot)},
      {"payload", s.payload ? PayloadJson(*s.payload) : nlohmann::json(nullptr)},
      {"full_payload", s.full_payload ? PayloadJson(*s.full_payload) : nlohmann::json(nullptr)},
      {"fell_back_to_full", s.fell_back_to_full},
      {"fallback_reason", s.fallback_reason},
      {"available_version", s.available_version},
      {"booted_version", s.booted_version},
      {"staged_boot_id", s.staged_boot_id},
      {"downloaded_bytes", s.downloaded_bytes},
      {"last_error", s.last_error},
      {"last_error_code", s.last_error_code},
      {"wait_reason", s.wait_reason},
      {"wait_reason_code", s.wait_reason_code},
      {"last_check", s.last_check},
      {"time_floor", s.time_floor},
      {"last_metadata_version", s.legacy_metadata_version
                                    ? nlohmann::json(*s.legacy_metadata_version)
                                    : nlohmann::json(nullptr)},
      {"seen_channels", SeenChannelsJson(s.seen_channels)},
      {"rolled_back_releases", s.rolled_back_releases},
      {"totals",
       {{"last_success", s.last_success},
        {"downloaded_delta_bytes", s.downloaded_delta_total},
        {"downloaded_full_bytes", s.downloaded_full_total},
        {"failures", s.failures},
        {"rollbacks", s.rollbacks}}},
  };
  // Text in the state may come from the network (errors quoting a server's answer): invalid
  // UTF-8 is replaced rather than thrown on, so recording an error can never kill the daemon.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<UpdateState> ParseState(std::string_view text) {
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object()) return Fail(ErrorKind::kInvalidInput, "state is not a JSON object");
    if (j.at("format").get<int>() != 1) {
      return Failf(ErrorKind::kUnsupported, "state format {} is not supported",
                   j.at("format").dump());
    }
    UpdateState s;
    BASALT_ASSIGN_OR_RETURN(s.phase, ParsePhase(j.at("state").get<std::string>()));
    s.version = j.at("version").get<std::string>();
    s.from_version = j.at("from_version").get<std::string>();
    s.target_slot = j.at("target_slot").get<std::string>();
    if (!s.target_slot.empty() && s.target_slot != "A" && s.target_slot != "B") {
      return Failf(ErrorKind::kInvalidInput, "target_slot \"{}\" is not A or B", s.target_slot);
    }
    s.usr_root_hash = j.at("usr_root_hash").get<std::string>();
    s.kernel_version = j.at("kernel_version").get<std::string>();
    // Absent in state files written before releases carried their command line.
    if (j.contains("kernel_cmdline") && !j.at("kernel_cmdline").is_null()) {
      s.kernel_cmdline = j.at("kernel_cmdline").get<std::string>();
    }
    // Absent in state files written before releases named boot artifacts.
    if (j.contains("boot_artifacts")) {
      s.boot_artifacts = j.at("boot_artifacts").get<std::map<std::string, std::string>>();
    }
    // Absent in state files written before measured boot.
    if (j.contains("pcr11_predictions")) {
      BASALT_ASSIGN_OR_RETURN(s.pcr11_predictions, PredictionsFromJson(j.at("pcr11_predictions")));
    }
    if (j.contains("measured_boot")) {
      const auto& m = j.at("measured_boot");
      s.measured_boot = {.code = m.at("code").get<std::string>(),
                         .pcr11 = m.at("pcr11").get<std::string>(),
                         .message = m.at("message").get<std::string>(),
                         .alarming = m.at("code").get<std::string>() == "differs"};
    }
    if (!j.at("payload").is_null()) s.payload = PayloadFromJson(j.at("payload"));
    if (!j.at("full_payload").is_null()) s.full_payload = PayloadFromJson(j.at("full_payload"));
    s.fell_back_to_full = j.at("fell_back_to_full").get<bool>();
    s.fallback_reason = j.at("fallback_reason").get<std::string>();
    s.available_version = j.at("available_version").get<std::string>();
    s.booted_version = j.at("booted_version").get<std::string>();
    s.staged_boot_id = j.at("staged_boot_id").get<std::string>();
    s.downloaded_bytes = j.at("downloaded_bytes").get<uint64_t>();
    s.last_error = j.at("last_error").get<std::string>();
    s.wait_reason = j.at("wait_reason").get<std::string>();
    // Absent in state files written before the codes: NormalizeCodes names them "unknown".
    s.last_error_code = j.value("last_error_code", std::string());
    s.wait_reason_code = j.value("wait_reason_code", std::string());
    NormalizeCodes(s);
    s.last_check = j.at("last_check").get<std::string>();
    s.time_floor = j.value("time_floor", std::string());  // absent in older files
    if (!j.at("last_metadata_version").is_null()) {
      s.legacy_metadata_version = j.at("last_metadata_version").get<uint64_t>();
    }
    // Absent in state files written before per-channel records.
    if (j.contains("seen_channels")) {
      for (const auto& [name, seen] : j.at("seen_channels").items()) {
        s.seen_channels[name] = {seen.at("metadata_version").get<uint64_t>(),
                                 seen.at("sha256").get<std::string>(),
                                 seen.value("keys", std::string())};
      }
    }
    s.rolled_back_releases = j.at("rolled_back_releases").get<std::set<std::string>>();
    // Absent in state files written before the totals existed.
    if (j.contains("totals")) {
      const auto& t = j.at("totals");
      s.last_success = t.at("last_success").get<std::string>();
      s.downloaded_delta_total = t.at("downloaded_delta_bytes").get<uint64_t>();
      s.downloaded_full_total = t.at("downloaded_full_bytes").get<uint64_t>();
      s.failures = t.at("failures").get<std::map<std::string, uint64_t>>();
      s.rollbacks = t.at("rollbacks").get<uint64_t>();
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Failf(ErrorKind::kInvalidInput, "malformed update state: {}", e.what());
  }
}

std::string FailureReason(const Error& e, Phase phase) {
  switch (e.kind()) {
    case ErrorKind::kIo:
      return phase == Phase::kDownloading ? "download" : "io";
    case ErrorKind::kIntegrity:
      return "integrity";
    case ErrorKind::kPolicy:
      return e.message() == "cancelled" ? "cancelled" : "policy";
    case ErrorKind::kInvalidInput:
      return "invalid-input";
    case ErrorKind::kNotFound:
      return "not-found";
    case ErrorKind::kUnsupported:
      return "unsupported";
    default:
      return "internal";
  }
}

void SetLastError(UpdateState& s, std::string sentence, std::string code) {
  s.last_error = std::move(sentence);
  s.last_error_code = std::move(code);
  NormalizeCodes(s);
}

void ClearLastError(UpdateState& s) {
  s.last_error.clear();
  s.last_error_code.clear();
}

void SetWaitReason(UpdateState& s, std::string code, std::string sentence) {
  s.wait_reason = std::move(sentence);
  s.wait_reason_code = std::move(code);
  NormalizeCodes(s);
}

void ClearWaitReason(UpdateState& s) {
  s.wait_reason.clear();
  s.wait_reason_code.clear();
}

void NormalizeCodes(UpdateState& s) {
  if (s.last_error.empty()) s.last_error_code.clear();
  if (!s.last_error.empty() && s.last_error_code.empty()) s.last_error_code = "unknown";
  if (s.wait_reason.empty()) s.wait_reason_code.clear();
  if (!s.wait_reason.empty() && s.wait_reason_code.empty()) s.wait_reason_code = "unknown";
}

void RecordRollback(UpdateState& s, std::string_view booted_slot) {
  s.phase = Phase::kRolledBack;
  s.rolled_back_releases.insert(s.version);
  ++s.rollbacks;
  ClearWaitReason(s);
  SetLastError(s,
               fmt::format("version {} in slot {} did not come up healthy; the bootloader fell "
                           "back to slot {}. {} is skipped until the channel offers another "
                           "version",
                           s.version, s.target_slot, booted_slot, s.version),
               "rolled-back");
}

Result<UpdateState> StateStore::Load() const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Failf(ErrorKind::kIo, "create state directory {}: {}", dir_, ec.message());
  // Best effort, and not logged (the store has no logger): the state file itself is written
  // 0600, so a directory that cannot be tightened (not ours, a read-only bind) shows only names.
  ::chmod(dir_.c_str(), 0700);
  if (!std::filesystem::exists(path(), ec)) return UpdateState{};
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path()));
  auto s = ParseState(text);
  if (!s) return std::unexpected(std::move(s).error().WithContext(path()));
  return s;
}

Status StateStore::Save(const UpdateState& s) const {
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(path(), SerializeState(s), 0600));
  if (on_save_) on_save_(s);
  return {};
}

}  // namespace basalt::update
