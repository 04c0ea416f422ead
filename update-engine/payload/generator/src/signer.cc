#include "signer.h"

namespace basalt::payload {

Result<Signer> Signer::Load(const std::vector<std::string>& keys) {
  if (keys.empty()) return Fail(ErrorKind::kInvalidInput, "at least one signing key is needed");
  Signer s;
  for (const auto& k : keys) {
    BASALT_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Load(k));
    s.keys_.push_back(std::move(key));
  }
  return s;
}

Result<std::vector<Signature>> Signer::Sign(std::span<const uint8_t> message) const {
  std::vector<Signature> sigs;
  for (const PrivateKey& key : keys_) {
    BASALT_ASSIGN_OR_RETURN(auto sig, key.Sign(message));
    sigs.push_back(Signature{key.id(), std::move(sig)});
  }
  return sigs;
}

}  // namespace basalt::payload
