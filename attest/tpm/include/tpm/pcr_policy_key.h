// The key pair that signs a release's PCR policies (docs/attestation-seal.md): RSA-2048, as
// systemd-measure and TPM2_VerifySignature use it, under the file names ukify and
// systemd-cryptenroll expect, so the same files work with either tool.
#pragma once

#include <string>

#include "common/error.h"

namespace basalt::tpm {

inline constexpr const char* kPcrPolicyPrivateKeyFile = "tpm2-pcr-private-key.pem";
inline constexpr const char* kPcrPolicyPublicKeyFile = "tpm2-pcr-public-key.pem";

struct PcrPolicyKeyFiles {
  std::string private_key;  // PKCS#8 PEM, mode 0600
  std::string public_key;   // SubjectPublicKeyInfo PEM, mode 0644
  std::string fingerprint;  // systemd's "pkfp" of the public key, hex
};

// Creates `dir` (0700) if needed and writes a new key pair into it. Never overwrites: if either
// file exists, nothing is written (kPolicy).
[[nodiscard]] Result<PcrPolicyKeyFiles> CreatePcrPolicyKey(const std::string& dir);

// The public half (SubjectPublicKeyInfo PEM) of the policy private key at `private_key_path`,
// for a UKI's .pcrpkey section. RSA-2048 only; an encrypted key is refused, not prompted for
// (image builds run unattended).
[[nodiscard]] Result<std::string> PcrPolicyPublicPem(const std::string& private_key_path);

}  // namespace basalt::tpm
