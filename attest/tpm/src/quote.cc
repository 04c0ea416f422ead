#include "tpm/quote.h"

#include <tss2/tss2_mu.h>

#include "tpm/pcrs.h"

namespace basalt::tpm {

Result<Quote> QuotePcrs(const TpmContext& tpm, const TpmHandle& ak, std::span<const uint8_t> nonce,
                        std::span<const int> pcrs) {
  TPM2B_DATA qualifying = {};
  if (nonce.empty() || nonce.size() > sizeof(qualifying.buffer)) {
    return Failf(ErrorKind::kInvalidInput, "the nonce is {} bytes, not 1..{}", nonce.size(),
                 sizeof(qualifying.buffer));
  }
  qualifying.size = static_cast<uint16_t>(nonce.size());
  std::copy(nonce.begin(), nonce.end(), qualifying.buffer);

  TPML_PCR_SELECTION sel = {};
  sel.count = 1;
  sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
  sel.pcrSelections[0].sizeofSelect = 3;
  for (int pcr : pcrs) {
    if (pcr < 0 || pcr > 23) return Failf(ErrorKind::kInvalidInput, "PCR {} is not in 0..23", pcr);
    sel.pcrSelections[0].pcrSelect[pcr / 8] |= static_cast<uint8_t>(1u << (pcr % 8));
  }
  // TPM2_ALG_NULL: the AK's own scheme (ECDSA-SHA256), fixed by its template.
  TPMT_SIG_SCHEME scheme = {};
  scheme.scheme = TPM2_ALG_NULL;
  TPM2B_ATTEST* attest = nullptr;
  TPMT_SIGNATURE* signature = nullptr;
  BASALT_RETURN_IF_ERROR(
      TssCheck(Esys_Quote(tpm.esys(), ak.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                          &qualifying, &scheme, &sel, &attest, &signature),
               "quote PCRs"));
  EsysPtr<TPM2B_ATTEST> owned_attest(attest);
  EsysPtr<TPMT_SIGNATURE> owned_signature(signature);

  Quote q;
  q.attest.assign(attest->attestationData, attest->attestationData + attest->size);
  q.signature.resize(sizeof(TPMT_SIGNATURE));
  size_t offset = 0;
  BASALT_RETURN_IF_ERROR(TssCheck(
      Tss2_MU_TPMT_SIGNATURE_Marshal(signature, q.signature.data(), q.signature.size(), &offset),
      "marshal the quote's signature"));
  q.signature.resize(offset);
  BASALT_ASSIGN_OR_RETURN(q.pcrs, ReadPcrs(tpm, pcrs));
  return q;
}

}  // namespace basalt::tpm
