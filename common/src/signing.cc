#include "common/signing.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"

namespace basalt {
namespace {

struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

void FreePkey(EVP_PKEY* k) {
  EVP_PKEY_free(k);
}

Result<KeyType> ClassifyKey(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519")) return KeyType::kEd25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) != 1) {
      return Fail(ErrorKind::kUnsupported, "EC key without a named curve");
    }
    std::string_view g(group, len);
    if (g != "prime256v1" && g != "P-256") {
      return Failf(ErrorKind::kUnsupported, "EC curve {} is not supported (use P-256)", g);
    }
    return KeyType::kEcdsaP256;
  }
  if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
    if (EVP_PKEY_get_bits(key) < 2048) {
      return Failf(ErrorKind::kUnsupported, "RSA key of {} bits is too weak (at least 2048)",
                   EVP_PKEY_get_bits(key));
    }
    return KeyType::kRsaPss;
  }
  return Failf(ErrorKind::kUnsupported, "unsupported key type {}", EVP_PKEY_get0_type_name(key));
}

// Sets up a sign or verify context with the one parameter set each key type allows; a verifier
// must never accept, say, PKCS#1 v1.5 for a key we sign with PSS.
Result<MdCtxPtr> MakeDigestCtx(EVP_PKEY* key, KeyType type, bool sign) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return Fail(ErrorKind::kInternal, "EVP_MD_CTX_new failed");
  const char* md = type == KeyType::kEd25519 ? nullptr : "SHA256";
  EVP_PKEY_CTX* pctx = nullptr;
  int rc = sign ? EVP_DigestSignInit_ex(ctx.get(), &pctx, md, nullptr, nullptr, key, nullptr)
                : EVP_DigestVerifyInit_ex(ctx.get(), &pctx, md, nullptr, nullptr, key, nullptr);
  if (rc != 1) return Failf(ErrorKind::kInternal, "signature init: {}", OpensslError());
  if (type == KeyType::kRsaPss) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", nullptr) != 1) {
      return Failf(ErrorKind::kInternal, "RSA-PSS parameters: {}", OpensslError());
    }
  }
  return ctx;
}

}  // namespace

std::string OpensslError() {
  unsigned long code = ERR_get_error();
  std::string text = "unknown OpenSSL error";
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    text = buf;
  }
  ERR_clear_error();
  return text;
}

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEd25519:
      return "ed25519";
    case KeyType::kEcdsaP256:
      return "ecdsa-p256";
    case KeyType::kRsaPss:
      return "rsa-pss";
  }
  return "unknown";
}

Result<PublicKey> PublicKey::FromPkey(EVP_PKEY* raw) {
  std::shared_ptr<EVP_PKEY> key(raw, FreePkey);
  BASALT_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(key.get()));
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) return Failf(ErrorKind::kInternal, "encode public key: {}", OpensslError());
  Sha256Digest digest = Sha256(std::span<const uint8_t>(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  PublicKey pub;
  pub.key_ = std::move(key);
  pub.type_ = type;
  pub.id_ = ToHex(digest);
  return pub;
}

Result<PublicKey> PublicKey::FromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return Failf(ErrorKind::kInvalidInput, "not a PEM public key: {}", OpensslError());
  }
  return FromPkey(key);
}

Result<PublicKey> PublicKey::LoadFile(const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(std::string pem, ReadFileToString(path));
  auto key = FromPem(pem);
  if (!key) return std::unexpected(std::move(key).error().WithContext(path));
  return key;
}

int PublicKey::bits() const {
  return EVP_PKEY_get_bits(key_.get());
}

std::string PublicKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Status PublicKey::Verify(std::span<const uint8_t> message,
                         std::span<const uint8_t> signature) const {
  BASALT_ASSIGN_OR_RETURN(MdCtxPtr ctx, MakeDigestCtx(key_.get(), type_, /*sign=*/false));
  int rc = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                            message.size());
  ERR_clear_error();
  if (rc != 1) {
    return Failf(ErrorKind::kIntegrity, "signature by key {} does not verify", id_.substr(0, 16));
  }
  return {};
}

Result<PrivateKey> PrivateKey::FromPkey(EVP_PKEY* raw) {
  std::shared_ptr<EVP_PKEY> key(raw, FreePkey);
  // Derive the public half through a DER round trip so PublicKey owns an independent object.
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) return Failf(ErrorKind::kInternal, "encode public key: {}", OpensslError());
  const unsigned char* p = der;
  EVP_PKEY* pub = d2i_PUBKEY(nullptr, &p, len);
  OPENSSL_free(der);
  if (pub == nullptr) return Failf(ErrorKind::kInternal, "decode public key: {}", OpensslError());
  BASALT_ASSIGN_OR_RETURN(PublicKey public_key, PublicKey::FromPkey(pub));
  PrivateKey priv;
  priv.key_ = std::move(key);
  priv.public_ = std::move(public_key);
  return priv;
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return Failf(ErrorKind::kInvalidInput, "not a PEM private key: {}", OpensslError());
  }
  return FromPkey(key);
}

Result<PrivateKey> PrivateKey::Load(const std::string& path_or_uri) {
  // Plain paths are read directly so errors name the file; anything with a scheme goes through
  // OSSL_STORE, which is how PKCS#11 and other provider-backed keys are reached.
  if (path_or_uri.find(':') == std::string::npos || path_or_uri.starts_with("/")) {
    BASALT_ASSIGN_OR_RETURN(std::string pem, ReadFileToString(path_or_uri));
    auto key = FromPem(pem);
    if (!key) return std::unexpected(std::move(key).error().WithContext(path_or_uri));
    return key;
  }
  OSSL_STORE_CTX* store = OSSL_STORE_open(path_or_uri.c_str(), nullptr, nullptr, nullptr, nullptr);
  if (store == nullptr) {
    return Failf(ErrorKind::kNotFound, "open key store {}: {}", path_or_uri, OpensslError());
  }
  EVP_PKEY* found = nullptr;
  while (found == nullptr && !OSSL_STORE_eof(store)) {
    OSSL_STORE_INFO* info = OSSL_STORE_load(store);
    if (info == nullptr) continue;
    if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) {
      found = OSSL_STORE_INFO_get1_PKEY(info);
    }
    OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(store);
  ERR_clear_error();
  if (found == nullptr) {
    return Failf(ErrorKind::kNotFound, "no private key found at {}", path_or_uri);
  }
  return FromPkey(found);
}

Result<PrivateKey> PrivateKey::Generate(KeyType type, int rsa_bits) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyType::kEcdsaP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kRsaPss:
      if (rsa_bits != 3072 && rsa_bits != 4096) {
        return Failf(ErrorKind::kInvalidInput, "RSA key size must be 3072 or 4096, not {}",
                     rsa_bits);
      }
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(rsa_bits));
      break;
  }
  if (key == nullptr) return Failf(ErrorKind::kInternal, "generate key: {}", OpensslError());
  return FromPkey(key);
}

Result<std::vector<uint8_t>> PrivateKey::Sign(std::span<const uint8_t> message) const {
  BASALT_ASSIGN_OR_RETURN(MdCtxPtr ctx, MakeDigestCtx(key_.get(), public_.type(), /*sign=*/true));
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) != 1) {
    return Failf(ErrorKind::kInternal, "sign: {}", OpensslError());
  }
  std::vector<uint8_t> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) != 1) {
    return Failf(ErrorKind::kInternal, "sign: {}", OpensslError());
  }
  sig.resize(len);
  return sig;
}

Result<std::string> PrivateKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Failf(ErrorKind::kInternal, "encode private key: {}", OpensslError());
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace basalt
