#include "measurements_json.h"

namespace basalt::repo {

Result<attest::UkiMeasurements> ParseUkiMeasurements(const nlohmann::json& value, std::string where,
                                                     UnknownFields unknown) {
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(value, std::move(where), unknown));
  attest::UkiMeasurements m;
  BASALT_ASSIGN_OR_RETURN(m.authenticode_sha256, r.String("authenticode_sha256"));
  BASALT_RETURN_IF_ERROR(CheckHex(m.authenticode_sha256, 32, r.Name("authenticode_sha256")));
  BASALT_ASSIGN_OR_RETURN(m.pcr11, r.String("pcr11"));
  BASALT_RETURN_IF_ERROR(CheckHex(m.pcr11, 32, r.Name("pcr11")));
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* phases, r.Object("pcr11_phases"));
  BASALT_ASSIGN_OR_RETURN(FieldReader p,
                          FieldReader::Open(*phases, r.Name("pcr11_phases"), unknown));
  for (std::string_view phase : attest::kPcrPhases) {
    BASALT_ASSIGN_OR_RETURN(std::string v, p.String(phase));
    BASALT_RETURN_IF_ERROR(CheckHex(v, 32, p.Name(phase)));
    m.pcr11_phases[std::string(phase)] = std::move(v);
  }
  BASALT_RETURN_IF_ERROR(p.Finish());
  BASALT_RETURN_IF_ERROR(r.Finish());
  return m;
}

nlohmann::ordered_json UkiMeasurementsJson(const attest::UkiMeasurements& m) {
  nlohmann::ordered_json phases = nlohmann::ordered_json::object();
  for (std::string_view phase : attest::kPcrPhases) {
    auto it = m.pcr11_phases.find(std::string(phase));
    if (it != m.pcr11_phases.end()) phases[std::string(phase)] = it->second;
  }
  return {{"authenticode_sha256", m.authenticode_sha256},
          {"pcr11", m.pcr11},
          {"pcr11_phases", std::move(phases)}};
}

}  // namespace basalt::repo
