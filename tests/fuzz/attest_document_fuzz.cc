// The attestation document parser and the verifier on hostile documents. A document that
// parses must format and parse back to itself; the verifier must never crash, and may say ok
// only when every finding is ok. The enrolled AK and nonce are those of the seed
// (tests/fuzz/corpus/attest_document/quote_swtpm.json, quoted by swtpm), so mutations of it
// reach the signature and quote checks with a key that really signed it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "attest/quote_document.h"
#include "attest/verify.h"
#include "common/hex.h"

namespace {

constexpr std::string_view kAkPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbYLyT3q2jRvSMJL4pn/uQxDHx63m\n"
    "0kDfKBKyHWqZOCd0SegRkPsBKenGsqewBZoX5sBBMj4U/BgPd/j6NB5TTw==\n"
    "-----END PUBLIC KEY-----\n";
constexpr std::string_view kNonce =
    "f2089762fa6ca91633f5219379e98efa79792593a65a3385de5d1e06351ebb5d";
constexpr std::string_view kPcr11 =
    "ff4d55cd85724de92ab538c82df0dd57ae0b5281e088a1a64df159f33c343702";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace basalt::attest;
  setenv("TSS2_LOG", "all+none", 0);  // MU's warnings on malformed structures are expected here
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = ParseAttestationDocument(text);
  if (!doc) {
    if (doc.error().kind() != basalt::ErrorKind::kInvalidInput) __builtin_trap();
    return 0;
  }
  auto again = ParseAttestationDocument(FormatAttestationDocument(*doc));
  if (!again || *again != *doc) __builtin_trap();

  VerifyInputs in;
  in.enrolled_ak_pem = std::string(kAkPem);
  in.nonce = *basalt::FromHex(kNonce);
  in.expected.release_name = "2.0";
  in.expected.pcr11 = {std::string(kPcr11)};
  in.expected.uki_authenticode = std::string(64, '0');
  const Verdict v = VerifyAttestation(*doc, in);
  const bool all_ok = std::ranges::all_of(v.findings, [](const Finding& f) { return f.ok; });
  if (v.ok != all_ok || v.findings.empty() || v.summary.empty()) __builtin_trap();
  // Without the UKI's PCR 4 event no document can pass: the seed has none.
  if (v.ok) __builtin_trap();
  return 0;
}
