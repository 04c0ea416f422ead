#include "guard/guard_policy.h"

#include "common/time_util.h"
#include "repo/json_fields.h"

namespace basalt::guard {

Result<GuardPolicy> ParseGuardPolicy(std::string_view text) {
  BASALT_ASSIGN_OR_RETURN(nlohmann::json j, repo::ParseJson(text, "policy"));
  BASALT_ASSIGN_OR_RETURN(repo::FieldReader r, repo::FieldReader::Open(j, "policy"));
  GuardPolicy p;
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* steps, r.Array("steps"));
  if (steps->empty() || steps->size() > 100) {
    return Fail(ErrorKind::kInvalidInput, "policy.steps: give 1 to 100 percentages");
  }
  for (size_t i = 0; i < steps->size(); ++i) {
    const auto& s = (*steps)[i];
    if (!s.is_number_unsigned() || s.get<uint64_t>() < 1 || s.get<uint64_t>() > 100) {
      return Failf(ErrorKind::kInvalidInput, "policy.steps[{}]: expected a percentage 1..100", i);
    }
    auto v = static_cast<uint32_t>(s.get<uint64_t>());
    if (!p.steps.empty() && v <= p.steps.back()) {
      return Failf(ErrorKind::kInvalidInput, "policy.steps[{}]: {} does not increase on {}", i, v,
                   p.steps.back());
    }
    p.steps.push_back(v);
  }
  BASALT_ASSIGN_OR_RETURN(std::string soak, r.String("soak"));
  BASALT_ASSIGN_OR_RETURN(p.soak, ParseDuration(soak, "policy.soak"));
  BASALT_ASSIGN_OR_RETURN(p.min_hosts, r.Uint("min_hosts"));
  if (p.min_hosts < 1) {
    return Fail(ErrorKind::kInvalidInput,
                "policy.min_hosts: must be at least 1 (a release no host ran cannot be judged)");
  }
  BASALT_ASSIGN_OR_RETURN(uint64_t bad, r.Uint("max_bad_percent"));
  if (bad > 100) return Fail(ErrorKind::kInvalidInput, "policy.max_bad_percent: at most 100");
  p.max_bad_percent = static_cast<uint32_t>(bad);
  BASALT_ASSIGN_OR_RETURN(std::optional<uint64_t> rel, r.OptionalUint("max_percent_of_old"));
  if (rel) {
    if (*rel < 100 || *rel > 100000) {
      return Fail(ErrorKind::kInvalidInput,
                  "policy.max_percent_of_old: 100 (as bad as the old release) to 100000");
    }
    p.max_percent_of_old = static_cast<uint32_t>(*rel);
  }
  BASALT_RETURN_IF_ERROR(r.Finish());
  return p;
}

}  // namespace basalt::guard
