#include "tpm/pcr_policy.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <cstring>

#include "common/base64.h"
#include "common/fd.h"
#include "common/hex.h"
#include "common/signing.h"
#include "repo/json_fields.h"
#include "tpm/tpm_context.h"
#include "tss_marshal.h"

namespace basalt::tpm {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

constexpr uint32_t kMaxPcrIndex = 23;
constexpr size_t kMaxSignatureBytes = 512;  // RSA 4096, the largest key a TPM might verify

// The sha256 bank selection of `pcrs`, three select bytes as TPMs and tpm2-tools use.
TPML_PCR_SELECTION Selection(std::span<const uint32_t> pcrs) {
  TPML_PCR_SELECTION sel = {};
  sel.count = 1;
  sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
  sel.pcrSelections[0].sizeofSelect = 3;
  for (uint32_t i : pcrs)
    sel.pcrSelections[0].pcrSelect[i / 8] |= uint8_t(1u << (i % 8));
  return sel;
}

Result<std::vector<uint8_t>> MarshalCc(TPM2_CC cc) {
  std::vector<uint8_t> out(4);
  size_t offset = 0;
  BASALT_RETURN_IF_ERROR(
      TssCheck(Tss2_MU_TPM2_CC_Marshal(cc, out.data(), out.size(), &offset), "marshal TPM_CC"));
  return out;
}

Result<PkeyPtr> ReadPublicPem(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  if (!bio) return Failf(ErrorKind::kInternal, "BIO_new_mem_buf: {}", OpensslError());
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return Failf(ErrorKind::kInvalidInput, "not a PEM public key (SubjectPublicKeyInfo): {}",
                 OpensslError());
  }
  return key;
}

Status CheckRsa2048(EVP_PKEY* key, std::string_view what) {
  if (!EVP_PKEY_is_a(key, "RSA")) {
    return Failf(ErrorKind::kUnsupported, "{}: a PCR policy key must be RSA (systemd's format)",
                 what);
  }
  if (EVP_PKEY_get_bits(key) != 2048) {
    return Failf(ErrorKind::kUnsupported,
                 "{}: a PCR policy key must be RSA-2048 (the size every TPM 2.0 verifies), not {} "
                 "bits",
                 what, EVP_PKEY_get_bits(key));
  }
  return {};
}

// systemd's "pkfp" (openssl-util.c pubkey_fingerprint, v252): SHA-256 of i2d_PublicKey, which
// for RSA is the PKCS#1 RSAPublicKey DER, not the SubjectPublicKeyInfo our key ids hash. Checked
// against systemd-measure sign in pcr_policy_test.
Result<Sha256Digest> SystemdFingerprint(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PublicKey(key, &der);
  if (len <= 0) return Failf(ErrorKind::kInternal, "i2d_PublicKey: {}", OpensslError());
  Sha256Digest fp = Sha256(std::span<const uint8_t>(der, size_t(len)));
  OPENSSL_free(der);
  return fp;
}

// The template systemd's tpm2_tpm2b_public_from_pem (v252) builds: the exponent is the key's
// own (65537 is written as 65537, not as the spec's "0 = default"), and the Name hashes those
// bytes, so this must match it exactly for a policy sealed by either side to unseal on the other.
Result<TPM2B_PUBLIC> TpmPublic(EVP_PKEY* key) {
  BIGNUM* n_raw = nullptr;
  BIGNUM* e_raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n_raw) != 1 ||
      EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e_raw) != 1) {
    BN_free(n_raw);
    BN_free(e_raw);
    return Failf(ErrorKind::kInternal, "RSA key parameters: {}", OpensslError());
  }
  BnPtr n(n_raw), e(e_raw);
  TPM2B_PUBLIC pub = {};
  TPMT_PUBLIC& area = pub.publicArea;
  area.type = TPM2_ALG_RSA;
  area.nameAlg = TPM2_ALG_SHA256;
  area.objectAttributes = TPMA_OBJECT_DECRYPT | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH;
  area.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
  area.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  const int n_bytes = BN_num_bytes(n.get());
  if (n_bytes <= 0 || size_t(n_bytes) > sizeof(area.unique.rsa.buffer) ||
      BN_num_bits(e.get()) > 32) {
    return Fail(ErrorKind::kUnsupported, "RSA key too large for a TPM");
  }
  area.parameters.rsaDetail.keyBits = uint16_t(n_bytes * 8);
  area.parameters.rsaDetail.exponent = uint32_t(BN_get_word(e.get()));
  area.unique.rsa.size = uint16_t(n_bytes);
  BN_bn2bin(n.get(), area.unique.rsa.buffer);
  return pub;
}

Result<TPM2B_NAME> NameOf(const TPM2B_PUBLIC& pub) {
  BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> area,
                          MuMarshal(pub.publicArea, Tss2_MU_TPMT_PUBLIC_Marshal, "TPMT_PUBLIC"));
  const Sha256Digest h = Sha256(area);
  TPM2B_NAME name = {};
  size_t offset = 0;
  BASALT_RETURN_IF_ERROR(TssCheck(
      Tss2_MU_TPMI_ALG_HASH_Marshal(TPM2_ALG_SHA256, name.name, sizeof(name.name), &offset),
      "marshal name algorithm"));
  std::memcpy(name.name + offset, h.data(), h.size());
  name.size = uint16_t(offset + h.size());
  return name;
}

Sha256Digest HashConcat(std::initializer_list<std::span<const uint8_t>> parts) {
  Hasher h(HashAlgorithm::kSha256);
  for (auto p : parts)
    h.Update(p);
  Sha256Digest out;
  h.Final(out.data());
  return out;
}

Result<std::vector<uint8_t>> DecodeHex(const std::string& value, size_t bytes,
                                       const std::string& field) {
  BASALT_RETURN_IF_ERROR(repo::CheckHex(value, bytes, field));
  BASALT_ASSIGN_OR_RETURN(auto raw, FromHex(value));
  return raw;
}

Result<PcrSignatureEntry> ParseEntry(const nlohmann::json& v, const std::string& where) {
  BASALT_ASSIGN_OR_RETURN(auto r, repo::FieldReader::Open(v, where));
  PcrSignatureEntry e;
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* pcrs, r.Array("pcrs"));
  if (pcrs->empty() || pcrs->size() > kMaxPcrIndex + 1) {
    return Failf(ErrorKind::kInvalidInput, "{}: expected 1 to 24 PCR indices", r.Name("pcrs"));
  }
  for (const auto& p : *pcrs) {
    if (!p.is_number_unsigned() || p.get<uint64_t>() > kMaxPcrIndex) {
      return Failf(ErrorKind::kInvalidInput, "{}: expected PCR indices 0 to 23", r.Name("pcrs"));
    }
    const auto index = uint32_t(p.get<uint64_t>());
    if (!e.pcrs.empty() && index <= e.pcrs.back()) {
      return Failf(ErrorKind::kInvalidInput, "{}: PCR indices must be ascending and distinct",
                   r.Name("pcrs"));
    }
    e.pcrs.push_back(index);
  }
  BASALT_ASSIGN_OR_RETURN(std::string pkfp, r.String("pkfp"));
  BASALT_ASSIGN_OR_RETURN(auto fp, DecodeHex(pkfp, 32, r.Name("pkfp")));
  std::copy(fp.begin(), fp.end(), e.key_fingerprint.begin());
  BASALT_ASSIGN_OR_RETURN(std::string pol, r.String("pol"));
  BASALT_ASSIGN_OR_RETURN(e.policy, DecodeHex(pol, 32, r.Name("pol")));
  BASALT_ASSIGN_OR_RETURN(std::string sig, r.String("sig"));
  if (sig.size() > (kMaxSignatureBytes + 2) / 3 * 4) {
    return Failf(ErrorKind::kInvalidInput, "{}: longer than a {}-byte signature", r.Name("sig"),
                 kMaxSignatureBytes);
  }
  auto raw = Base64Decode(sig);
  if (!raw) return std::unexpected(raw.error().WithContext(r.Name("sig")));
  if (raw->empty()) return Failf(ErrorKind::kInvalidInput, "{}: empty", r.Name("sig"));
  e.signature = std::move(*raw);
  BASALT_RETURN_IF_ERROR(r.Finish());
  return e;
}

}  // namespace

Result<Sha256Digest> PolicyPcrDigest(std::span<const PcrValue> pcrs) {
  if (pcrs.empty()) return Fail(ErrorKind::kInvalidInput, "PolicyPCR: no PCRs selected");
  std::vector<PcrValue> sorted(pcrs.begin(), pcrs.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const PcrValue& a, const PcrValue& b) { return a.index < b.index; });
  std::vector<uint32_t> indices;
  Hasher values(HashAlgorithm::kSha256);
  for (const PcrValue& p : sorted) {
    if (p.index > kMaxPcrIndex || (!indices.empty() && indices.back() == p.index)) {
      return Failf(ErrorKind::kInvalidInput, "PolicyPCR: PCR {} out of range or repeated", p.index);
    }
    indices.push_back(p.index);
    values.Update(p.value);
  }
  Sha256Digest pcr_digest;
  values.Final(pcr_digest.data());
  BASALT_ASSIGN_OR_RETURN(auto cc, MarshalCc(TPM2_CC_PolicyPCR));
  BASALT_ASSIGN_OR_RETURN(
      auto sel,
      MuMarshal(Selection(indices), Tss2_MU_TPML_PCR_SELECTION_Marshal, "TPML_PCR_SELECTION"));
  const Sha256Digest zero = {};
  return HashConcat({zero, cc, sel, pcr_digest});
}

Result<PolicyPublicKey> PolicyPublicKey::FromPem(std::string_view pem) {
  BASALT_ASSIGN_OR_RETURN(PkeyPtr key, ReadPublicPem(pem));
  BASALT_RETURN_IF_ERROR(CheckRsa2048(key.get(), "policy public key"));
  PolicyPublicKey out;
  BASALT_ASSIGN_OR_RETURN(out.public_, TpmPublic(key.get()));
  BASALT_ASSIGN_OR_RETURN(out.name_, NameOf(out.public_));
  BASALT_ASSIGN_OR_RETURN(out.fingerprint_, SystemdFingerprint(key.get()));
  out.key_ = std::shared_ptr<EVP_PKEY>(key.release(), PkeyFree());
  return out;
}

Result<PolicyPublicKey> PolicyPublicKey::LoadFile(const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(std::string pem, ReadFileToString(path));
  auto key = FromPem(pem);
  if (!key) return std::unexpected(key.error().WithContext(path));
  return key;
}

Result<Sha256Digest> PolicyAuthorizeDigest(const PolicyPublicKey& key) {
  BASALT_ASSIGN_OR_RETURN(auto cc, MarshalCc(TPM2_CC_PolicyAuthorize));
  const Sha256Digest zero = {};
  const TPM2B_NAME& name = key.name();
  const Sha256Digest step = HashConcat({zero, cc, std::span<const uint8_t>(name.name, name.size)});
  // The policyRef systemd uses is empty, so the second extend hashes the digest alone.
  return HashConcat({step});
}

Result<std::string> SignPcrPolicies(const std::string& private_key_path,
                                    std::span<const PcrPolicyValue> values) {
  if (values.empty()) return Fail(ErrorKind::kInvalidInput, "no PCR values to sign");
  BASALT_ASSIGN_OR_RETURN(std::string pem, ReadFileToString(private_key_path));
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) {
    return Failf(ErrorKind::kInvalidInput, "{}: not a PEM private key: {}", private_key_path,
                 OpensslError());
  }
  BASALT_RETURN_IF_ERROR(CheckRsa2048(key.get(), private_key_path));
  BASALT_ASSIGN_OR_RETURN(Sha256Digest fp, SystemdFingerprint(key.get()));
  nlohmann::json entries = nlohmann::json::array();
  for (const PcrPolicyValue& v : values) {
    const PcrValue pcr{.index = v.pcr, .value = v.value};
    BASALT_ASSIGN_OR_RETURN(Sha256Digest pol, PolicyPcrDigest(std::span(&pcr, 1)));
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    size_t len = 0;
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.get(), nullptr) !=
            1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, pol.data(), pol.size()) != 1) {
      return Failf(ErrorKind::kInternal, "sign PCR policy: {}", OpensslError());
    }
    std::vector<uint8_t> sig(len);
    if (EVP_DigestSign(ctx.get(), sig.data(), &len, pol.data(), pol.size()) != 1) {
      return Failf(ErrorKind::kInternal, "sign PCR policy: {}", OpensslError());
    }
    sig.resize(len);
    entries.push_back(
        {{"pcrs", {v.pcr}}, {"pkfp", ToHex(fp)}, {"pol", ToHex(pol)}, {"sig", Base64Encode(sig)}});
  }
  return nlohmann::json{{"sha256", entries}}.dump();
}

Result<PcrSignature> ParsePcrSignature(std::string_view json) {
  if (json.size() > kMaxPcrSignatureBytes) {
    return Failf(ErrorKind::kInvalidInput, "PCR signature: {} bytes, more than {}", json.size(),
                 kMaxPcrSignatureBytes);
  }
  BASALT_ASSIGN_OR_RETURN(nlohmann::json doc, repo::ParseJson(json, "PCR signature"));
  BASALT_ASSIGN_OR_RETURN(auto r, repo::FieldReader::Open(doc, "pcrsig"));
  PcrSignature out;
  for (std::string_view bank : {"sha1", "sha256", "sha384", "sha512"}) {
    if (!doc.contains(bank)) continue;
    BASALT_ASSIGN_OR_RETURN(const nlohmann::json* list, r.Array(bank));
    if (list->size() > kMaxPcrSignatureEntries) {
      return Failf(ErrorKind::kInvalidInput, "{}: more than {} entries", r.Name(bank),
                   kMaxPcrSignatureEntries);
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string where = fmt::format("{}[{}]", r.Name(bank), i);
      if (bank == "sha256") {
        BASALT_ASSIGN_OR_RETURN(PcrSignatureEntry e, ParseEntry((*list)[i], where));
        out.sha256.push_back(std::move(e));
      } else if (!(*list)[i].is_object()) {
        return Failf(ErrorKind::kInvalidInput, "{}: expected a JSON object", where);
      }
    }
  }
  BASALT_RETURN_IF_ERROR(r.Finish());
  if (out.sha256.empty()) {
    return Fail(ErrorKind::kInvalidInput, "pcrsig.sha256: no signed policy for the sha256 bank");
  }
  return out;
}

}  // namespace basalt::tpm
