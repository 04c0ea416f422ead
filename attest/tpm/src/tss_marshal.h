// TSS2 MU marshalling into and out of byte vectors, with TSS return codes as Errors: every TPM
// structure Basalt hashes or stores goes through the TSS's own (un)marshallers.
#pragma once

#include <tss2/tss2_mu.h>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "tpm/tpm_context.h"

namespace basalt::tpm {

// `marshal` is a Tss2_MU_<T>_Marshal; the buffer has room for the largest encoding of T.
template <class T, class F>
Result<std::vector<uint8_t>> MuMarshal(const T& value, F marshal, std::string_view what) {
  std::vector<uint8_t> out(sizeof(T) + 16);
  size_t offset = 0;
  BASALT_RETURN_IF_ERROR(
      TssCheck(marshal(&value, out.data(), out.size(), &offset), fmt::format("marshal {}", what)));
  out.resize(offset);
  return out;
}

// `unmarshal` is a Tss2_MU_<T>_Unmarshal; bytes left over are an error, so a blob is exactly
// one structure.
template <class T, class F>
Result<T> MuUnmarshal(std::span<const uint8_t> bytes, F unmarshal, std::string_view what) {
  T value = {};
  size_t offset = 0;
  if (TSS2_RC rc = unmarshal(bytes.data(), bytes.size(), &offset, &value); rc != TSS2_RC_SUCCESS) {
    return Failf(ErrorKind::kInvalidInput, "{}: not a valid TPM structure (0x{:x})", what, rc);
  }
  if (offset != bytes.size()) {
    return Failf(ErrorKind::kInvalidInput, "{}: {} bytes after the structure", what,
                 bytes.size() - offset);
  }
  return value;
}

}  // namespace basalt::tpm
