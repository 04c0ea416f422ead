#include "tpm/attestation_key.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <memory>
#include <vector>

#include "common/signing.h"

namespace basalt::tpm {
namespace {

// The AK template. Changing any field derives a different key, which every enrolled host would
// have to re-enroll: treat it as frozen.
TPM2B_PUBLIC AkTemplate() {
  TPM2B_PUBLIC t = {};
  TPMT_PUBLIC& p = t.publicArea;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                       TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  p.authPolicy.size = 0;
  TPMS_ECC_PARMS& ecc = p.parameters.eccDetail;
  ecc.symmetric.algorithm = TPM2_ALG_NULL;
  ecc.scheme.scheme = TPM2_ALG_ECDSA;
  ecc.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  ecc.curveID = TPM2_ECC_NIST_P256;
  ecc.kdf.scheme = TPM2_ALG_NULL;
  p.unique.ecc.x.size = 0;
  p.unique.ecc.y.size = 0;
  return t;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

// The P-256 point of a TPM public area as a SubjectPublicKeyInfo PEM.
Result<std::string> EccPublicToPem(const TPMT_PUBLIC& pub) {
  const TPM2B_ECC_PARAMETER& x = pub.unique.ecc.x;
  const TPM2B_ECC_PARAMETER& y = pub.unique.ecc.y;
  if (pub.type != TPM2_ALG_ECC || pub.parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ||
      x.size > 32 || y.size > 32) {
    return Fail(ErrorKind::kInternal, "the TPM returned an AK that is not a P-256 key");
  }
  // SEC1 uncompressed point: 0x04 || X || Y, each left-padded to the field size.
  std::vector<uint8_t> point(65, 0);
  point[0] = 0x04;
  std::copy(x.buffer, x.buffer + x.size, point.begin() + 1 + (32 - x.size));
  std::copy(y.buffer, y.buffer + y.size, point.begin() + 33 + (32 - y.size));

  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return Failf(ErrorKind::kInternal, "AK public key parameters: {}", OpensslError());
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return Failf(ErrorKind::kInternal, "AK public key: {}", OpensslError());
  }
  std::unique_ptr<EVP_PKEY, PkeyFree> key(raw);
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
    return Failf(ErrorKind::kInternal, "AK public key PEM: {}", OpensslError());
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

Result<AttestationKey> CreateAttestationKey(const TpmContext& tpm) {
  const TPM2B_SENSITIVE_CREATE sensitive = {};
  const TPM2B_PUBLIC in_public = AkTemplate();
  const TPM2B_DATA outside_info = {};
  const TPML_PCR_SELECTION creation_pcr = {};
  ESYS_TR handle = ESYS_TR_NONE;
  TPM2B_PUBLIC* out_public = nullptr;
  TPM2B_CREATION_DATA* creation_data = nullptr;
  TPM2B_DIGEST* creation_hash = nullptr;
  TPMT_TK_CREATION* creation_ticket = nullptr;
  BASALT_RETURN_IF_ERROR(TssCheck(
      Esys_CreatePrimary(tpm.esys(), ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, &sensitive, &in_public, &outside_info, &creation_pcr,
                         &handle, &out_public, &creation_data, &creation_hash, &creation_ticket),
      "create the attestation key (endorsement hierarchy primary)"));
  AttestationKey ak{TpmHandle(tpm.esys(), handle), {}};
  EsysPtr<TPM2B_PUBLIC> pub(out_public);
  EsysPtr<TPM2B_CREATION_DATA> cd(creation_data);
  EsysPtr<TPM2B_DIGEST> ch(creation_hash);
  EsysPtr<TPMT_TK_CREATION> ct(creation_ticket);
  BASALT_ASSIGN_OR_RETURN(ak.public_pem, EccPublicToPem(pub->publicArea));
  return ak;
}

}  // namespace basalt::tpm
