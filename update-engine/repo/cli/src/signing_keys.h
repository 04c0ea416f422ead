// Private keys named on a command line (`--key`, `--sign-with`): PEM paths or OpenSSL store URIs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/signing.h"

namespace basalt {

// Loads every key; none at all is an error naming `flag`.
inline Result<std::vector<PrivateKey>> LoadSigningKeys(const std::vector<std::string>& refs,
                                                       std::string_view flag) {
  std::vector<PrivateKey> keys;
  for (const auto& r : refs) {
    BASALT_ASSIGN_OR_RETURN(PrivateKey k, PrivateKey::Load(r));
    keys.push_back(std::move(k));
  }
  if (keys.empty()) return Failf(ErrorKind::kInvalidInput, "at least one {} is needed", flag);
  return keys;
}

}  // namespace basalt
