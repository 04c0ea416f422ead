#include "guard/guard_state.h"

#include <filesystem>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "guard/guard_decision.h"
#include "repo/json_fields.h"

namespace basalt::guard {

std::string DefaultGuardStatePath(std::string_view repo_dir, std::string_view channel) {
  std::string dir(repo_dir);
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  return fmt::format("{}.guard-{}.json", dir, channel);
}

Result<GuardState> ParseGuardState(std::string_view text) {
  BASALT_ASSIGN_OR_RETURN(nlohmann::json j, repo::ParseJson(text, "guard state"));
  BASALT_ASSIGN_OR_RETURN(repo::FieldReader r, repo::FieldReader::Open(j, "guard state"));
  GuardState s;
  BASALT_ASSIGN_OR_RETURN(s.channel, r.String("channel"));
  BASALT_ASSIGN_OR_RETURN(s.release, r.String("release"));
  BASALT_ASSIGN_OR_RETURN(std::optional<uint64_t> limit, r.OptionalUint("limit_percent"));
  if (limit) {
    if (*limit > 100) return Fail(ErrorKind::kInvalidInput, "guard state.limit_percent: over 100");
    s.limit_percent = static_cast<uint32_t>(*limit);
  }
  BASALT_ASSIGN_OR_RETURN(std::string started, r.String("step_started"));
  BASALT_ASSIGN_OR_RETURN(s.step_started, ParseTime(started, "guard state.step_started"));
  BASALT_RETURN_IF_ERROR(r.Finish());
  return s;
}

std::string SerializeGuardState(const GuardState& s) {
  nlohmann::json j = {
      {"channel", s.channel}, {"release", s.release}, {"step_started", FormatTime(s.step_started)}};
  if (s.limit_percent) j["limit_percent"] = *s.limit_percent;
  return j.dump(2) + "\n";
}

GuardState CurrentStepRecord(const std::optional<GuardState>& saved, const repo::Channel& channel,
                             TimePoint now) {
  GuardState now_state{.channel = channel.name,
                       .release = channel.release,
                       .limit_percent = CurrentStep(channel),
                       .step_started = now};
  if (saved && saved->channel == now_state.channel && saved->release == now_state.release &&
      saved->limit_percent == now_state.limit_percent) {
    return *saved;
  }
  return now_state;
}

Result<std::optional<GuardState>> LoadGuardState(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<GuardState>();
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  auto s = ParseGuardState(text);
  if (!s) return std::unexpected(s.error().WithContext(path));
  return std::optional<GuardState>(std::move(*s));
}

Status SaveGuardState(const std::string& path, const GuardState& s) {
  auto w = WriteFileAtomic(path, SerializeGuardState(s), 0644);
  if (!w) return std::unexpected(w.error().WithContext("write the guard state"));
  return {};
}

}  // namespace basalt::guard
