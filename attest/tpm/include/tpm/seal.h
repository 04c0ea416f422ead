// A secret sealed in the TPM to "any PCR 11 value the release key signed" (issue 20): sealed
// once, it unseals after every update whose UKI the release signs and not after a modified boot,
// with no resealing. The TPM objects and policy are systemd-cryptenroll --tpm2-public-key's
// (docs/attestation-seal.md); the blob that carries them is Basalt's.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/error.h"
#include "tpm/tpm_context.h"

namespace basalt::tpm {

// A TPM2B_SENSITIVE_DATA holds at most 128 bytes; a longer secret should be a key that wraps it.
inline constexpr size_t kMaxSealedSecretBytes = 128;
inline constexpr size_t kMaxSealedBlobBytes = 16 * 1024;

// Creates the storage root key (systemd's ECC P-256 primary in the owner hierarchy, re-derived
// identically on every call) and under it a sealed data object holding `secret`, whose
// authPolicy is PolicyAuthorizeDigest(policy key). Returns the blob (JSON: the marshalled
// TPM2B_PUBLIC and TPM2B_PRIVATE, base64, and the key's systemd fingerprint). The secret travels
// to the TPM in a session encrypted to the SRK.
[[nodiscard]] Result<std::string> SealToPolicyKey(const TpmContext& tpm,
                                                  std::string_view policy_key_pem,
                                                  std::string_view secret);

// Loads the blob's object under the re-derived SRK, runs PolicyPCR(sha256:11) against the
// TPM's current PCR 11, picks the .pcrsig entry whose "pol" equals the resulting digest, has the
// TPM verify its signature (VerifySignature with the key loaded in the owner hierarchy, so the
// ticket is not a null ticket), then PolicyAuthorize and Unseal. A boot whose PCR 11 nobody
// signed, a signature by another key or one that does not verify is kPolicy; a damaged blob or
// signature document is kInvalidInput or the TPM's refusal to load it.
[[nodiscard]] Result<std::string> UnsealWithSignedPolicy(const TpmContext& tpm,
                                                         std::string_view blob,
                                                         std::string_view policy_key_pem,
                                                         std::string_view signature_json);

}  // namespace basalt::tpm
