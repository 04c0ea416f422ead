#include "tpm/pcrs.h"

#include <fmt/format.h>

#include "common/hex.h"

namespace basalt::tpm {

Result<std::map<int, std::string>> ReadPcrs(const TpmContext& tpm, std::span<const int> indices) {
  std::map<int, std::string> out;
  // One PCR per TPM2_PCR_Read: a TPM returns at most eight digests per call and may return
  // fewer than asked for, so asking for one at a time needs no bookkeeping of what came back.
  for (int pcr : indices) {
    if (pcr < 0 || pcr > 23) {
      return Failf(ErrorKind::kInvalidInput, "PCR {} is not in 0..23", pcr);
    }
    TPML_PCR_SELECTION sel = {};
    sel.count = 1;
    sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel.pcrSelections[0].sizeofSelect = 3;
    sel.pcrSelections[0].pcrSelect[pcr / 8] = static_cast<uint8_t>(1u << (pcr % 8));
    TPML_PCR_SELECTION* sel_out = nullptr;
    TPML_DIGEST* values = nullptr;
    BASALT_RETURN_IF_ERROR(TssCheck(Esys_PCR_Read(tpm.esys(), ESYS_TR_NONE, ESYS_TR_NONE,
                                                  ESYS_TR_NONE, &sel, nullptr, &sel_out, &values),
                                    fmt::format("read PCR {}", pcr)));
    EsysPtr<TPML_PCR_SELECTION> owned_sel(sel_out);
    EsysPtr<TPML_DIGEST> owned_values(values);
    if (values->count != 1 || values->digests[0].size != 32) {
      return Failf(ErrorKind::kUnsupported, "PCR {}: the TPM has no SHA-256 bank value for it",
                   pcr);
    }
    out[pcr] = ToHex(std::span<const uint8_t>(values->digests[0].buffer, 32));
  }
  return out;
}

}  // namespace basalt::tpm
