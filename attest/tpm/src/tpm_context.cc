#include "tpm/tpm_context.h"

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <string>
#include <utility>

namespace basalt::tpm {

Result<TpmContext> TpmContext::Open(std::string_view tcti) {
  const std::string conf(tcti);
  TSS2_TCTI_CONTEXT* t = nullptr;
  BASALT_RETURN_IF_ERROR(
      TssCheck(Tss2_TctiLdr_Initialize(conf.c_str(), &t), fmt::format("TPM transport {}", conf)));
  ESYS_CONTEXT* e = nullptr;
  if (Status s = TssCheck(Esys_Initialize(&e, t, nullptr), "TPM ESYS context"); !s) {
    Tss2_TctiLdr_Finalize(&t);
    return std::unexpected(s.error().WithContext(fmt::format("TPM {}", conf)));
  }
  return TpmContext(t, e);
}

TpmContext::TpmContext(TpmContext&& o) noexcept
    : tcti_(std::exchange(o.tcti_, nullptr)), esys_(std::exchange(o.esys_, nullptr)) {}

TpmContext& TpmContext::operator=(TpmContext&& o) noexcept {
  if (this != &o) {
    Reset();
    tcti_ = std::exchange(o.tcti_, nullptr);
    esys_ = std::exchange(o.esys_, nullptr);
  }
  return *this;
}

TpmContext::~TpmContext() {
  Reset();
}

void TpmContext::Reset() {
  if (esys_) Esys_Finalize(&esys_);
  if (tcti_) Tss2_TctiLdr_Finalize(&tcti_);
}

Status TssCheck(TSS2_RC rc, std::string_view what) {
  if (rc == TSS2_RC_SUCCESS) return {};
  // Refusals of a policy or a signature are verdicts about this boot, not failures of the TPM:
  // TPM_RC_POLICY_FAIL and TPM_RC_SIGNATURE come format-one encoded (bit 7) with a parameter or
  // session number above the six error bits; TPM_RC_PCR_CHANGED is format zero.
  const bool tpm_layer = (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER;
  const TSS2_RC fmt1 = rc & 0x3F;
  const bool policy = tpm_layer && ((rc & TPM2_RC_FMT1) ? fmt1 == (TPM2_RC_POLICY_FAIL & 0x3F) ||
                                                              fmt1 == (TPM2_RC_SIGNATURE & 0x3F)
                                                        : (rc & 0xFFFF) == TPM2_RC_PCR_CHANGED);
  return Failf(policy ? ErrorKind::kPolicy : ErrorKind::kIo, "{}: {} (0x{:x})", what,
               Tss2_RC_Decode(rc), rc);
}

TpmHandle& TpmHandle::operator=(TpmHandle&& o) noexcept {
  if (this != &o) {
    if (handle_ != ESYS_TR_NONE) Esys_FlushContext(esys_, handle_);
    esys_ = o.esys_;
    handle_ = o.Release();
  }
  return *this;
}

TpmHandle::~TpmHandle() {
  if (handle_ != ESYS_TR_NONE) Esys_FlushContext(esys_, handle_);
}

ESYS_TR TpmHandle::Release() {
  return std::exchange(handle_, ESYS_TR_NONE);
}

}  // namespace basalt::tpm
