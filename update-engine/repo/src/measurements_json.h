// The `measurements` object of a UKI in image.json and release.json (boot.uki.<slot>):
// {"authenticode_sha256": hex, "pcr11": hex, "pcr11_phases": {<phase>: hex, ...}}, what
// attest/uki_measurements.h predicts. One reader for both documents, so they cannot drift.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "attest/uki_measurements.h"
#include "common/error.h"
#include "repo/json_fields.h"

namespace basalt::repo {

// Strict: every field present, lower-case hex of 32 bytes, exactly the phases of
// attest::kPcrPhases. `where` names the object in messages ("release.boot.uki.A.measurements").
// With kIgnore (a newer document minor), unknown fields and phases are skipped, not refused.
Result<attest::UkiMeasurements> ParseUkiMeasurements(const nlohmann::json& value, std::string where,
                                                     UnknownFields unknown);

nlohmann::ordered_json UkiMeasurementsJson(const attest::UkiMeasurements& m);

}  // namespace basalt::repo
