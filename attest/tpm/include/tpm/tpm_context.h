// An open connection to a TPM 2.0: the TCTI (transport) and the ESYS context over it, owned
// together so neither outlives the other. Every TSS2 return code becomes an Error that names the
// command and carries the library's own decoding of the code.
#pragma once

#include <tss2/tss2_esys.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::tpm {

// The kernel's resource manager, as systemd and tpm2-tools use by default.
inline constexpr std::string_view kDefaultTcti = "device:/dev/tpmrm0";

class TpmContext {
 public:
  // `tcti` is a TCTI configuration as tpm2-tools takes it: "device:/dev/tpmrm0",
  // "swtpm:host=127.0.0.1,port=2321".
  [[nodiscard]] static Result<TpmContext> Open(std::string_view tcti);

  TpmContext(TpmContext&&) noexcept;
  TpmContext& operator=(TpmContext&&) noexcept;
  ~TpmContext();

  ESYS_CONTEXT* esys() const { return esys_; }

 private:
  TpmContext(TSS2_TCTI_CONTEXT* tcti, ESYS_CONTEXT* esys) : tcti_(tcti), esys_(esys) {}
  void Reset();

  TSS2_TCTI_CONTEXT* tcti_ = nullptr;
  ESYS_CONTEXT* esys_ = nullptr;
};

// OK for TSS2_RC_SUCCESS; otherwise "WHAT: <Tss2_RC_Decode text> (0xRC)" as kIo (the TPM or the
// transport refused) — or kPolicy when the TPM refused a policy check (a sealed object's
// PCR policy did not match), which callers report as "not this boot".
[[nodiscard]] Status TssCheck(TSS2_RC rc, std::string_view what);

// Frees what ESYS allocated for an output parameter.
struct EsysFree {
  void operator()(void* p) const { Esys_Free(p); }
};
template <class T>
using EsysPtr = std::unique_ptr<T, EsysFree>;

// A transient object or session handle, flushed from the TPM when it goes out of scope (the TPM
// has only a few slots for them).
class TpmHandle {
 public:
  TpmHandle() = default;
  TpmHandle(ESYS_CONTEXT* esys, ESYS_TR handle) : esys_(esys), handle_(handle) {}
  TpmHandle(TpmHandle&& o) noexcept : esys_(o.esys_), handle_(o.Release()) {}
  TpmHandle& operator=(TpmHandle&& o) noexcept;
  ~TpmHandle();
  ESYS_TR get() const { return handle_; }
  ESYS_TR Release();

 private:
  ESYS_CONTEXT* esys_ = nullptr;
  ESYS_TR handle_ = ESYS_TR_NONE;
};

}  // namespace basalt::tpm
