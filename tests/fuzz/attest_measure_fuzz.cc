// The Authenticode hash and the PCR 11 prediction on hostile PE images: never read outside the
// image, refuse or succeed consistently, and whatever they accept has the recorded shape.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "attest/authenticode.h"
#include "attest/uki_measurements.h"
#include "common/hex.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view image(reinterpret_cast<const char*>(data), size);
  auto digest = basalt::attest::AuthenticodeSha256(image);
  auto m = basalt::attest::MeasureUki(image);
  if (m.has_value() && !digest.has_value()) std::abort();  // MeasureUki includes the digest
  if (!m) return 0;
  if (m->authenticode_sha256 != basalt::ToHex(*digest)) std::abort();
  if (!basalt::attest::CheckMeasurements(*m)) std::abort();
  return 0;
}
