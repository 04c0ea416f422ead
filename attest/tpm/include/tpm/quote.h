// A TPM2_Quote over SHA-256 PCRs with the AK: the TPM's signed statement of the PCR values and
// of the verifier's nonce (which makes it fresh).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "tpm/tpm_context.h"

namespace basalt::tpm {

struct Quote {
  std::vector<uint8_t> attest = {};  // TPMS_ATTEST as the TPM marshalled it (TPM2B_ATTEST's buffer)
  std::vector<uint8_t> signature = {};  // TPMT_SIGNATURE, marshalled with Tss2_MU
  // The PCR values read right after the quote, lower-case hex: what the verifier hashes to
  // compare with the quote's pcrDigest (an extend in between makes that check fail, honestly).
  std::map<int, std::string> pcrs = {};
};

// `nonce` is 1..64 bytes (a TPM2B_DATA); `pcrs` are SHA-256 bank indices 0..23.
[[nodiscard]] Result<Quote> QuotePcrs(const TpmContext& tpm, const TpmHandle& ak,
                                      std::span<const uint8_t> nonce, std::span<const int> pcrs);

}  // namespace basalt::tpm
