// Signed PCR policies the systemd way (TPM2_PolicyAuthorize over TPM2_PolicyPCR), computed in
// software: a secret sealed to "whatever policy this RSA key signs" unseals on every boot whose
// PCR 11 value the key signed, so a release signs the PCR 11 values of its UKI and old secrets
// keep working after an update. The formats are systemd-measure's (.pcrsig JSON) and
// systemd-cryptenroll --tpm2-public-key's (the key's TPM template), so either side may be systemd.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/hash.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace basalt::tpm {

// systemd-stub measures the UKI's sections into PCR 11.
inline constexpr uint32_t kPcrKernelImage = 11;

// One PCR of the sha256 bank and the value it must hold.
struct PcrValue {
  uint32_t index = kPcrKernelImage;
  Sha256Digest value = {};
};

// The policy digest TPM2_PolicyPCR leaves in a fresh session (all-zero start) when the selected
// sha256 PCRs hold `pcrs` (any order; the TPM hashes them by ascending index):
// H(0^32 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || H(values)).
[[nodiscard]] Result<Sha256Digest> PolicyPcrDigest(std::span<const PcrValue> pcrs);

// An RSA public key that signs PCR policies, in the form the TPM sees it: the TPMT_PUBLIC
// systemd builds for TPM2_LoadExternal (RSA, nameAlg sha256, decrypt|sign|userWithAuth, no
// symmetric, null scheme, the key's own exponent), its TPM Name, and systemd's fingerprint
// ("pkfp": SHA-256 of the PKCS#1 RSAPublicKey DER — not the SubjectPublicKeyInfo that Basalt's
// key ids hash; systemd-measure writes it so, and unsealing matches on it).
class PolicyPublicKey {
 public:
  // RSA only (TPM2_VerifySignature with RSASSA is what systemd uses), 2048 bits (the size every
  // TPM 2.0 must support).
  [[nodiscard]] static Result<PolicyPublicKey> FromPem(std::string_view pem);
  [[nodiscard]] static Result<PolicyPublicKey> LoadFile(const std::string& path);

  const TPM2B_PUBLIC& tpm_public() const { return public_; }
  const TPM2B_NAME& name() const { return name_; }
  const Sha256Digest& fingerprint() const { return fingerprint_; }
  EVP_PKEY* pkey() const { return key_.get(); }

 private:
  std::shared_ptr<EVP_PKEY> key_;
  TPM2B_PUBLIC public_ = {};
  TPM2B_NAME name_ = {};
  Sha256Digest fingerprint_ = {};
};

// The authPolicy of an object sealed to "any PCR policy `key` signs" (systemd-cryptenroll
// --tpm2-public-key with no other PCRs): PolicyAuthorize with an empty policyRef,
// H(H(0^32 || TPM_CC_PolicyAuthorize || Name(key)) || "").
[[nodiscard]] Result<Sha256Digest> PolicyAuthorizeDigest(const PolicyPublicKey& key);

// One PCR 11 value a release signs (one per boot phase systemd-stub/systemd-pcrphase reach).
struct PcrPolicyValue {
  uint32_t pcr = kPcrKernelImage;
  Sha256Digest value = {};
};

// Signs each value's PolicyPCR digest with the RSA private key at `private_key_path` (PEM) as
// systemd-measure sign does (RSASSA-PKCS1-v1_5, SHA-256 over the 32 digest bytes, which is what
// TPM2_VerifySignature checks with digest = H(approvedPolicy || empty policyRef)) and returns
// the .pcrsig JSON: {"sha256":[{"pcrs":[11],"pkfp":HEX,"pol":HEX,"sig":BASE64},...]}.
[[nodiscard]] Result<std::string> SignPcrPolicies(const std::string& private_key_path,
                                                  std::span<const PcrPolicyValue> values);

struct PcrSignatureEntry {
  std::vector<uint32_t> pcrs;
  Sha256Digest key_fingerprint = {};
  std::vector<uint8_t> policy;     // the signed PolicyPCR digest (32 bytes in the sha256 bank)
  std::vector<uint8_t> signature;  // RSASSA-PKCS1-v1_5
};

// A .pcrsig document. Only the sha256 bank is kept; the other banks systemd-measure may write
// (sha1, sha384, sha512) are checked for shape and dropped.
struct PcrSignature {
  std::vector<PcrSignatureEntry> sha256;
};

inline constexpr size_t kMaxPcrSignatureBytes = 64 * 1024;
inline constexpr size_t kMaxPcrSignatureEntries = 64;

// Strict: unknown fields, bad hex or base64, PCR indices out of 0..23 or unsorted, a policy not
// 32 bytes, a signature over 512 bytes, or more than kMaxPcrSignatureEntries entries per bank
// are kInvalidInput naming the field.
[[nodiscard]] Result<PcrSignature> ParsePcrSignature(std::string_view json);

}  // namespace basalt::tpm
