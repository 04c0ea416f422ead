// The set of public keys a host or verifier trusts, and threshold verification over a list of
// signatures, which is what makes key rotation possible: sign with old and new keys, ship the
// new key, then drop the old one.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/signing.h"

namespace basalt {

struct Signature {
  std::string key_id;  // hex SHA-256 of the signer's SubjectPublicKeyInfo
  std::vector<uint8_t> bytes;
};

class Keyring {
 public:
  // Loads every *.pem in dir as a public key. A file that is not a public key is an error
  // naming the file; an empty directory is an error too, since it would trust nothing.
  static Result<Keyring> LoadDirectory(const std::string& dir);
  // What every --keys option takes: a directory (as LoadDirectory) or one PEM public key file.
  static Result<Keyring> Load(const std::string& path);

  void Add(PublicKey key);
  const PublicKey* Find(const std::string& key_id) const;
  size_t size() const { return keys_.size(); }
  const std::map<std::string, PublicKey>& keys() const { return keys_; }

  // Counts distinct trusted keys whose signature over message verifies. Fails with kIntegrity
  // and a message that lists what was wrong (untrusted signers, bad signatures) when fewer
  // than threshold verify.
  Result<size_t> VerifyThreshold(std::span<const uint8_t> message,
                                 std::span<const Signature> signatures, size_t threshold) const;
  // The same, returning the ids of the trusted keys whose signatures verify (sorted, distinct).
  Result<std::vector<std::string>> VerifyThresholdSigners(std::span<const uint8_t> message,
                                                          std::span<const Signature> signatures,
                                                          size_t threshold) const;

 private:
  std::map<std::string, PublicKey> keys_;
};

}  // namespace basalt
