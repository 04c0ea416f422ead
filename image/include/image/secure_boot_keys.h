// A Secure Boot key hierarchy for test machines and new fleets: PK, KEK and db key pairs, and the
// signed variable updates that enrol them into firmware in setup mode.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace basalt {

struct SecureBootKeySet {
  std::string owner_guid;          // the signature owner of every EFI signature list
  std::vector<std::string> files;  // the paths written, in the order of kSecureBootKeyFiles
};

// For each of PK, KEK and db: NAME.key (RSA-2048, PKCS#8 PEM, mode 0600), NAME.crt (self-signed
// X.509, SHA-256, CN "<common_name> NAME", valid ten years), NAME.esl (EFI signature list,
// efitools cert-to-efi-sig-list) and NAME.auth (EFI_VARIABLE_AUTHENTICATION_2 update,
// sign-efi-sig-list: PK self-signed, KEK signed by PK, db signed by KEK); and owner.guid.
// The owner GUID is random (version 4): it only tags whose entries they are in the firmware's
// lists. `dir` is created (0700) if absent; if any of the files exists nothing is written
// (kPolicy). The files appear together: made in a scratch directory, then linked into place.
[[nodiscard]] Result<SecureBootKeySet> CreateSecureBootKeys(const std::string& dir,
                                                            const std::string& common_name);

}  // namespace basalt
