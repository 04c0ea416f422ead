// Public-key signatures through the OpenSSL EVP API: Ed25519, ECDSA P-256 (SHA-256, DER) and
// RSA-PSS (SHA-256, MGF1-SHA-256, salt length = digest length). A key id is the lower-case hex
// SHA-256 of the public key's DER SubjectPublicKeyInfo, so it is the same whatever tool wrote
// the PEM.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace basalt {

enum class KeyType { kEd25519, kEcdsaP256, kRsaPss };

std::string_view KeyTypeName(KeyType type);  // "ed25519", "ecdsa-p256", "rsa-pss"

// The most recent OpenSSL error as text, and the queue cleared, so messages say what OpenSSL
// objected to rather than just "failed" (for code that calls OpenSSL itself).
std::string OpensslError();

class PublicKey {
 public:
  static Result<PublicKey> FromPem(std::string_view pem);
  static Result<PublicKey> LoadFile(const std::string& path);

  const std::string& id() const { return id_; }
  KeyType type() const { return type_; }
  int bits() const;
  std::string ToPem() const;

  // Fails with kIntegrity when the signature does not verify.
  Status Verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const;

 private:
  // Takes ownership of key (an EVP_PKEY is immutable once loaded, so copies share it).
  static Result<PublicKey> FromPkey(EVP_PKEY* key);
  std::shared_ptr<EVP_PKEY> key_;
  std::string id_;
  KeyType type_ = KeyType::kEd25519;
  friend class PrivateKey;
};

class PrivateKey {
 public:
  // A PEM file path, or any URI an OpenSSL 3 store loader understands (file:, or pkcs11: when
  // a PKCS#11 provider is configured through OPENSSL_CONF), so keys can live in an HSM.
  static Result<PrivateKey> Load(const std::string& path_or_uri);
  static Result<PrivateKey> FromPem(std::string_view pem);
  // rsa_bits is used for kRsaPss only (3072 or 4096).
  static Result<PrivateKey> Generate(KeyType type, int rsa_bits = 3072);

  const PublicKey& public_key() const { return public_; }
  const std::string& id() const { return public_.id(); }

  Result<std::vector<uint8_t>> Sign(std::span<const uint8_t> message) const;
  Result<std::vector<uint8_t>> Sign(std::string_view message) const {
    return Sign(std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
  }
  // PKCS#8 PEM, unencrypted (the caller writes it with mode 0600).
  Result<std::string> ToPem() const;

 private:
  static Result<PrivateKey> FromPkey(EVP_PKEY* key);
  std::shared_ptr<EVP_PKEY> key_;
  PublicKey public_;
};

}  // namespace basalt
