// The release keys a payload is signed with.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/keyring.h"
#include "common/signing.h"

namespace basalt::payload {

class Signer {
 public:
  // PEM paths or OpenSSL store URIs (PrivateKey::Load); at least one. The generator loads them
  // before any other work, so a bad key fails in seconds rather than after the compression.
  static Result<Signer> Load(const std::vector<std::string>& keys);

  // One signature per key over `message` (payload/format.h SignedMessage), in key order.
  Result<std::vector<Signature>> Sign(std::span<const uint8_t> message) const;

 private:
  std::vector<PrivateKey> keys_;
};

}  // namespace basalt::payload
