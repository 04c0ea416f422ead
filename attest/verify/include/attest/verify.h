// The operator's verdict on a host's attestation document: is the quote fresh, signed by the
// host's enrolled attestation key, and do the quoted PCRs show the release the host claims, as
// the release was built? Each check is a named finding, so a refusal says which check failed
// and with what values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attest/quote_document.h"

namespace basalt::attest {

// What a release predicts for a host that boots it (today given on the command line; later
// looked up in a signed release, which fills exactly this struct).
struct ExpectedMeasurements {
  // The release's name in messages ("2.0"); empty: the host's own claim is used.
  std::string release_name = {};
  // Allowed PCR 11 values, lower-case hex: systemd-stub's value for the claimed slot's UKI and
  // the values systemd-pcrphase extends it to later in boot. At least one is required.
  std::vector<std::string> pcr11 = {};
  // The UKI's Authenticode (PE image) SHA-256, lower-case hex: must be among PCR 4's
  // EV_EFI_BOOT_SERVICES_APPLICATION digests (firmware measures every EFI binary it starts).
  std::optional<std::string> uki_authenticode = {};
};

struct VerifyInputs {
  std::string enrolled_ak_pem = {};  // the host's AK as enrolled (basalt attest ak)
  std::vector<uint8_t> nonce = {};   // the nonce the operator sent for this quote
  ExpectedMeasurements expected = {};
};

struct Finding {
  // Stable, for scripts: "ak-mismatch", "signature", "attest", "nonce", "pcr-select",
  // "pcr-digest", "event-log", "claim", "pcr11", "pcr4-uki".
  std::string code = {};
  bool ok = false;
  std::string message = {};
};

struct Verdict {
  bool ok = false;
  std::vector<Finding> findings = {};  // every check that ran, passed or not
  // "host H runs release V (slot S) as built", or why not.
  std::string summary = {};
};

Verdict VerifyAttestation(const AttestationDocument& doc, const VerifyInputs& in);

}  // namespace basalt::attest
