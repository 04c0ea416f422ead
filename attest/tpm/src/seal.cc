#include "tpm/seal.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/hex.h"
#include "repo/json_fields.h"
#include "tpm/pcr_policy.h"
#include "tss_marshal.h"

namespace basalt::tpm {
namespace {

constexpr uint64_t kBlobVersion = 1;

// systemd's SRK template (tpm2-util.c, v252): an ECC P-256 restricted decryption key with
// AES-128-CFB, in the owner hierarchy. A primary is derived from the hierarchy's seed and this
// template, so the same key comes back after every reboot without being stored.
TPM2B_PUBLIC SrkTemplate() {
  TPM2B_PUBLIC t = {};
  TPMT_PUBLIC& a = t.publicArea;
  a.type = TPM2_ALG_ECC;
  a.nameAlg = TPM2_ALG_SHA256;
  a.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
                       TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                       TPMA_OBJECT_USERWITHAUTH;
  a.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  a.parameters.eccDetail.symmetric.keyBits.aes = 128;
  a.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  a.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  a.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  a.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  return t;
}

Result<TpmHandle> CreateSrk(ESYS_CONTEXT* esys) {
  const TPM2B_SENSITIVE_CREATE sensitive = {};
  const TPM2B_PUBLIC tmpl = SrkTemplate();
  const TPM2B_DATA outside = {};
  const TPML_PCR_SELECTION creation_pcrs = {};
  ESYS_TR srk = ESYS_TR_NONE;
  BASALT_RETURN_IF_ERROR(
      TssCheck(Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  ESYS_TR_NONE, &sensitive, &tmpl, &outside, &creation_pcrs, &srk,
                                  nullptr, nullptr, nullptr, nullptr),
               "create the storage root key (ECC P-256 primary, owner hierarchy)"));
  return TpmHandle(esys, srk);
}

// A session salted to the SRK with AES-128-CFB parameter encryption, so the secret never crosses
// the bus to the TPM in clear (Create's inSensitive, Unseal's outData). `type` is HMAC for
// Create and POLICY for Unseal (the policy session carries the encryption too).
Result<TpmHandle> StartSession(ESYS_CONTEXT* esys, const TpmHandle& srk, TPM2_SE type,
                               TPMA_SESSION attributes) {
  TPMT_SYM_DEF sym = {};
  sym.algorithm = TPM2_ALG_AES;
  sym.keyBits.aes = 128;
  sym.mode.aes = TPM2_ALG_CFB;
  ESYS_TR session = ESYS_TR_NONE;
  BASALT_RETURN_IF_ERROR(
      TssCheck(Esys_StartAuthSession(esys, srk.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     ESYS_TR_NONE, nullptr, type, &sym, TPM2_ALG_SHA256, &session),
               "start a session salted to the SRK"));
  TpmHandle handle(esys, session);
  BASALT_RETURN_IF_ERROR(TssCheck(
      Esys_TRSess_SetAttributes(esys, session, attributes | TPMA_SESSION_CONTINUESESSION, 0xff),
      "set session attributes"));
  return handle;
}

TPML_PCR_SELECTION Pcr11Selection() {
  TPML_PCR_SELECTION sel = {};
  sel.count = 1;
  sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
  sel.pcrSelections[0].sizeofSelect = 3;
  sel.pcrSelections[0].pcrSelect[kPcrKernelImage / 8] = 1u << (kPcrKernelImage % 8);
  return sel;
}

struct Blob {
  TPM2B_PUBLIC pub = {};
  TPM2B_PRIVATE priv = {};
  Sha256Digest key_fingerprint = {};
};

Result<std::vector<uint8_t>> Base64Field(repo::FieldReader& r, std::string_view key) {
  BASALT_ASSIGN_OR_RETURN(std::string text, r.String(key));
  auto raw = Base64Decode(text);
  if (!raw) return std::unexpected(raw.error().WithContext(r.Name(key)));
  return raw;
}

Result<Blob> ParseBlob(std::string_view text) {
  if (text.size() > kMaxSealedBlobBytes) {
    return Failf(ErrorKind::kInvalidInput, "sealed blob: {} bytes, more than {}", text.size(),
                 kMaxSealedBlobBytes);
  }
  BASALT_ASSIGN_OR_RETURN(nlohmann::json doc, repo::ParseJson(text, "sealed blob"));
  BASALT_ASSIGN_OR_RETURN(auto r, repo::FieldReader::Open(doc, "sealed"));
  BASALT_ASSIGN_OR_RETURN(uint64_t version, r.Uint("version"));
  if (version != kBlobVersion) {
    return Failf(ErrorKind::kUnsupported, "sealed.version: {} (this build reads {})", version,
                 kBlobVersion);
  }
  BASALT_ASSIGN_OR_RETURN(std::string bank, r.String("bank"));
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* pcrs, r.Array("pcrs"));
  if (bank != "sha256" || *pcrs != nlohmann::json::array({kPcrKernelImage})) {
    return Fail(ErrorKind::kUnsupported,
                "sealed: only policies over PCR 11 of the sha256 bank are supported");
  }
  Blob b;
  BASALT_ASSIGN_OR_RETURN(std::string pkfp, r.String("pkfp"));
  BASALT_RETURN_IF_ERROR(repo::CheckHex(pkfp, 32, r.Name("pkfp")));
  BASALT_ASSIGN_OR_RETURN(auto fp, FromHex(pkfp));
  std::copy(fp.begin(), fp.end(), b.key_fingerprint.begin());
  BASALT_ASSIGN_OR_RETURN(auto pub, Base64Field(r, "public"));
  BASALT_ASSIGN_OR_RETURN(
      b.pub, MuUnmarshal<TPM2B_PUBLIC>(pub, Tss2_MU_TPM2B_PUBLIC_Unmarshal, r.Name("public")));
  BASALT_ASSIGN_OR_RETURN(auto priv, Base64Field(r, "private"));
  BASALT_ASSIGN_OR_RETURN(
      b.priv, MuUnmarshal<TPM2B_PRIVATE>(priv, Tss2_MU_TPM2B_PRIVATE_Unmarshal, r.Name("private")));
  BASALT_RETURN_IF_ERROR(r.Finish());
  return b;
}

Result<Sha256Digest> ReadPcr11(ESYS_CONTEXT* esys) {
  const TPML_PCR_SELECTION sel = Pcr11Selection();
  TPML_PCR_SELECTION* out_sel = nullptr;
  TPML_DIGEST* values = nullptr;
  BASALT_RETURN_IF_ERROR(TssCheck(Esys_PCR_Read(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                                &sel, nullptr, &out_sel, &values),
                                  "read PCR 11"));
  EsysPtr<TPML_PCR_SELECTION> own_sel(out_sel);
  EsysPtr<TPML_DIGEST> own_values(values);
  if (values->count != 1 || values->digests[0].size != 32) {
    return Fail(ErrorKind::kUnsupported, "read PCR 11: the TPM has no active sha256 bank");
  }
  Sha256Digest d;
  std::memcpy(d.data(), values->digests[0].buffer, d.size());
  return d;
}

std::string_view Bytes(std::span<const uint8_t> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

}  // namespace

Result<std::string> SealToPolicyKey(const TpmContext& tpm, std::string_view policy_key_pem,
                                    std::string_view secret) {
  if (secret.empty() || secret.size() > kMaxSealedSecretBytes) {
    return Failf(ErrorKind::kInvalidInput, "seal: the secret must be 1 to {} bytes, not {}",
                 kMaxSealedSecretBytes, secret.size());
  }
  BASALT_ASSIGN_OR_RETURN(PolicyPublicKey key, PolicyPublicKey::FromPem(policy_key_pem));
  BASALT_ASSIGN_OR_RETURN(Sha256Digest policy, PolicyAuthorizeDigest(key));
  ESYS_CONTEXT* esys = tpm.esys();
  BASALT_ASSIGN_OR_RETURN(TpmHandle srk, CreateSrk(esys));
  BASALT_ASSIGN_OR_RETURN(
      TpmHandle session,
      StartSession(esys, srk, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT));

  // systemd's sealed object (tpm2_seal): a keyed-hash object with no scheme, bound to this TPM
  // and parent, with no userWithAuth, so only the policy (never an empty password) opens it.
  TPM2B_PUBLIC tmpl = {};
  TPMT_PUBLIC& a = tmpl.publicArea;
  a.type = TPM2_ALG_KEYEDHASH;
  a.nameAlg = TPM2_ALG_SHA256;
  a.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
  a.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
  a.authPolicy.size = uint16_t(policy.size());
  std::memcpy(a.authPolicy.buffer, policy.data(), policy.size());
  TPM2B_SENSITIVE_CREATE sensitive = {};
  sensitive.sensitive.data.size = uint16_t(secret.size());
  std::memcpy(sensitive.sensitive.data.buffer, secret.data(), secret.size());
  const TPM2B_DATA outside = {};
  const TPML_PCR_SELECTION creation_pcrs = {};
  TPM2B_PRIVATE* out_private = nullptr;
  TPM2B_PUBLIC* out_public = nullptr;
  const TSS2_RC rc =
      Esys_Create(esys, srk.get(), ESYS_TR_PASSWORD, session.get(), ESYS_TR_NONE, &sensitive, &tmpl,
                  &outside, &creation_pcrs, &out_private, &out_public, nullptr, nullptr, nullptr);
  OPENSSL_cleanse(&sensitive, sizeof(sensitive));
  BASALT_RETURN_IF_ERROR(TssCheck(rc, "create the sealed object"));
  EsysPtr<TPM2B_PRIVATE> priv(out_private);
  EsysPtr<TPM2B_PUBLIC> pub(out_public);

  BASALT_ASSIGN_OR_RETURN(auto pub_bytes,
                          MuMarshal(*pub, Tss2_MU_TPM2B_PUBLIC_Marshal, "TPM2B_PUBLIC"));
  BASALT_ASSIGN_OR_RETURN(auto priv_bytes,
                          MuMarshal(*priv, Tss2_MU_TPM2B_PRIVATE_Marshal, "TPM2B_PRIVATE"));
  const nlohmann::json blob = {
      {"version", kBlobVersion},           {"bank", "sha256"},
      {"pcrs", {kPcrKernelImage}},         {"pkfp", ToHex(key.fingerprint())},
      {"public", Base64Encode(pub_bytes)}, {"private", Base64Encode(priv_bytes)},
  };
  return blob.dump() + "\n";
}

Result<std::string> UnsealWithSignedPolicy(const TpmContext& tpm, std::string_view blob_text,
                                           std::string_view policy_key_pem,
                                           std::string_view signature_json) {
  BASALT_ASSIGN_OR_RETURN(Blob blob, ParseBlob(blob_text));
  BASALT_ASSIGN_OR_RETURN(PolicyPublicKey key, PolicyPublicKey::FromPem(policy_key_pem));
  BASALT_ASSIGN_OR_RETURN(PcrSignature signature, ParsePcrSignature(signature_json));
  if (blob.key_fingerprint != key.fingerprint()) {
    return Failf(ErrorKind::kPolicy,
                 "unseal: the secret is sealed to policy key {}, not to the given key {}",
                 ToHex(blob.key_fingerprint), ToHex(key.fingerprint()));
  }
  // The authPolicy inside the blob is checked again by the TPM at Unseal; checking it here first
  // turns "policy check failed" into a message that says which key the blob wants.
  BASALT_ASSIGN_OR_RETURN(Sha256Digest want, PolicyAuthorizeDigest(key));
  const TPM2B_DIGEST& have = blob.pub.publicArea.authPolicy;
  if (have.size != want.size() || std::memcmp(have.buffer, want.data(), want.size()) != 0) {
    return Fail(ErrorKind::kPolicy,
                "unseal: the sealed object's policy is not PolicyAuthorize by the given key");
  }

  ESYS_CONTEXT* esys = tpm.esys();
  BASALT_ASSIGN_OR_RETURN(TpmHandle srk, CreateSrk(esys));
  ESYS_TR obj_raw = ESYS_TR_NONE;
  BASALT_RETURN_IF_ERROR(TssCheck(Esys_Load(esys, srk.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                            ESYS_TR_NONE, &blob.priv, &blob.pub, &obj_raw),
                                  "load the sealed object (damaged, or sealed on another TPM)"));
  TpmHandle object(esys, obj_raw);

  BASALT_ASSIGN_OR_RETURN(TpmHandle session,
                          StartSession(esys, srk, TPM2_SE_POLICY, TPMA_SESSION_ENCRYPT));
  const TPM2B_DIGEST current = {};  // empty: the TPM uses the PCRs' current values
  const TPML_PCR_SELECTION sel = Pcr11Selection();
  BASALT_RETURN_IF_ERROR(TssCheck(
      Esys_PolicyPCR(esys, session.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, &sel),
      "PolicyPCR(sha256:11)"));
  TPM2B_DIGEST* digest_raw = nullptr;
  BASALT_RETURN_IF_ERROR(TssCheck(Esys_PolicyGetDigest(esys, session.get(), ESYS_TR_NONE,
                                                       ESYS_TR_NONE, ESYS_TR_NONE, &digest_raw),
                                  "PolicyGetDigest"));
  EsysPtr<TPM2B_DIGEST> digest(digest_raw);
  const std::span<const uint8_t> pol(digest->buffer, digest->size);

  const PcrSignatureEntry* entry = nullptr;
  size_t for_key = 0;
  for (const PcrSignatureEntry& e : signature.sha256) {
    if (e.pcrs != std::vector<uint32_t>{kPcrKernelImage} ||
        e.key_fingerprint != key.fingerprint()) {
      continue;
    }
    ++for_key;
    if (std::ranges::equal(e.policy, pol)) {
      entry = &e;
      break;
    }
  }
  if (entry == nullptr) {
    auto pcr = ReadPcr11(esys);
    return Failf(ErrorKind::kPolicy,
                 "no signed policy for this boot's PCR 11 (sha256 {}, policy {}): the signature "
                 "holds {} PCR 11 policies by key {}, none for this value",
                 pcr ? ToHex(*pcr) : "unreadable", ToHex(pol), for_key, ToHex(key.fingerprint()));
  }

  ESYS_TR key_raw = ESYS_TR_NONE;
  // The owner hierarchy, not null: VerifySignature with a key in the null hierarchy returns a
  // null ticket, which PolicyAuthorize refuses.
  BASALT_RETURN_IF_ERROR(
      TssCheck(Esys_LoadExternal(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr,
                                 &key.tpm_public(), ESYS_TR_RH_OWNER, &key_raw),
               "load the policy public key"));
  TpmHandle key_handle(esys, key_raw);
  TPM2B_NAME* name_raw = nullptr;
  BASALT_RETURN_IF_ERROR(
      TssCheck(Esys_TR_GetName(esys, key_handle.get(), &name_raw), "policy key name"));
  EsysPtr<TPM2B_NAME> name(name_raw);

  TPMT_SIGNATURE sig = {};
  sig.sigAlg = TPM2_ALG_RSASSA;
  sig.signature.rsassa.hash = TPM2_ALG_SHA256;
  if (entry->signature.size() > sizeof(sig.signature.rsassa.sig.buffer)) {
    return Fail(ErrorKind::kInvalidInput, "unseal: the policy signature is too long");
  }
  sig.signature.rsassa.sig.size = uint16_t(entry->signature.size());
  std::memcpy(sig.signature.rsassa.sig.buffer, entry->signature.data(), entry->signature.size());
  // What PolicyAuthorize checks the ticket against: H(approvedPolicy || policyRef), ref empty.
  const Sha256Digest ahash = Sha256(pol);
  TPM2B_DIGEST signed_digest = {};
  signed_digest.size = uint16_t(ahash.size());
  std::memcpy(signed_digest.buffer, ahash.data(), ahash.size());
  TPMT_TK_VERIFIED* ticket_raw = nullptr;
  BASALT_RETURN_IF_ERROR(
      TssCheck(Esys_VerifySignature(esys, key_handle.get(), ESYS_TR_NONE, ESYS_TR_NONE,
                                    ESYS_TR_NONE, &signed_digest, &sig, &ticket_raw),
               "verify the PCR policy signature"));
  EsysPtr<TPMT_TK_VERIFIED> ticket(ticket_raw);

  const TPM2B_NONCE ref = {};
  BASALT_RETURN_IF_ERROR(
      TssCheck(Esys_PolicyAuthorize(esys, session.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    digest.get(), &ref, name.get(), ticket.get()),
               "PolicyAuthorize"));
  TPM2B_SENSITIVE_DATA* out_raw = nullptr;
  BASALT_RETURN_IF_ERROR(
      TssCheck(Esys_Unseal(esys, object.get(), session.get(), ESYS_TR_NONE, ESYS_TR_NONE, &out_raw),
               "unseal"));
  EsysPtr<TPM2B_SENSITIVE_DATA> out(out_raw);
  std::string secret(Bytes(std::span<const uint8_t>(out->buffer, out->size)));
  OPENSSL_cleanse(out->buffer, out->size);
  return secret;
}

}  // namespace basalt::tpm
