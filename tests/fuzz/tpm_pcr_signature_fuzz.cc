// The .pcrsig JSON (a UKI section, or a file an operator passes to `basalt attest unseal`) on
// hostile bytes: parsing must fail cleanly, and what it accepts must keep the documented shape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tpm/pcr_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto sig = basalt::tpm::ParsePcrSignature(text);
  if (!sig) return 0;
  if (sig->sha256.empty() || sig->sha256.size() > basalt::tpm::kMaxPcrSignatureEntries) abort();
  for (const auto& e : sig->sha256) {
    if (e.policy.size() != 32 || e.signature.empty() || e.signature.size() > 512) abort();
    if (e.pcrs.empty() || e.pcrs.size() > 24) abort();
    for (size_t i = 0; i < e.pcrs.size(); ++i) {
      if (e.pcrs[i] > 23 || (i > 0 && e.pcrs[i] <= e.pcrs[i - 1])) abort();
    }
  }
  return 0;
}
