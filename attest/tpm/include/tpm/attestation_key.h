// The host's attestation key (AK): the key a TPM signs quotes with, so an operator who enrolled
// its public half knows a quote came from this host's TPM.
#pragma once

#include <string>

#include "common/error.h"
#include "tpm/tpm_context.h"

namespace basalt::tpm {

struct AttestationKey {
  TpmHandle handle = {};
  std::string public_pem = {};  // SubjectPublicKeyInfo, for enrollment and verification
};

// Creates the AK as a primary key of the endorsement hierarchy from a fixed template (ECC NIST
// P-256, restricted signing, ECDSA-SHA256). A primary key is derived from the hierarchy's seed
// and the template alone, so every call re-derives the same key for as long as the TPM's
// endorsement primary seed lives (it changes only with TPM2_ChangeEPS; TPM2_Clear leaves it):
// nothing is stored on the host, and nothing on the host can be swapped for another
// key. Restricted means the TPM signs only digests it computed itself (quotes, certifications),
// never a caller's digest that could mimic a quote.
[[nodiscard]] Result<AttestationKey> CreateAttestationKey(const TpmContext& tpm);

}  // namespace basalt::tpm
