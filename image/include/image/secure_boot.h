// Secure Boot signatures on EFI binaries (UKIs, systemd-boot), made and checked by sbsigntool's
// sbsign and sbverify: an Authenticode signature the firmware checks against its db.
#pragma once

#include <string>

#include "common/error.h"

namespace basalt {

struct SecureBootSigner {
  // A PEM private key file (unencrypted: nothing may wait for a passphrase), or a PKCS#11 URI
  // ("pkcs11:...") signed through the OpenSSL pkcs11 engine, so the key can stay in an HSM.
  std::string key;
  std::string cert;  // the X.509 certificate (PEM) whose key signs, enrolled in the db
};

// Signs `in` into `out`, written crash-safely (a temp file next to `out`, fsync, rename).
[[nodiscard]] Status SignEfiBinary(const SecureBootSigner& s, const std::string& in,
                                   const std::string& out);

// OK when `file` carries a signature that verifies with `cert`; kIntegrity otherwise (unsigned,
// another signer, modified after signing).
[[nodiscard]] Status VerifyEfiBinary(const std::string& cert, const std::string& file);

}  // namespace basalt
