// Attestation documents for verifier tests without a TPM: a TPMS_ATTEST marshalled with
// Tss2_MU and signed with a software P-256 key exactly as a TPM's restricted ECDSA AK signs it
// (ECDSA over SHA-256 of the attest bytes), and event logs that record systemd-stub-style
// extends.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "attest/event_log.h"
#include "attest/quote_document.h"
#include "common/signing.h"

namespace basalt::testing {

// A TPMS_ATTEST of type quote with `nonce` as extraData, SHA-256 selection of `pcrs`' indices,
// and pcrDigest over their values.
std::vector<uint8_t> MarshalQuoteAttest(std::span<const uint8_t> nonce,
                                        const std::map<uint32_t, std::string>& pcrs);

// The TPMT_SIGNATURE (ECDSA, SHA-256) of `attest` by `key`, marshalled.
std::vector<uint8_t> SignAttest(const PrivateKey& key, std::span<const uint8_t> attest);

// An event: SHA-256 of `measured` extended into `pcr`, with `description` as event data.
attest::LogEvent Event(uint32_t pcr, uint32_t type, std::string_view measured,
                       std::string_view description);

// systemd-stub's PCR 11 measurements of a UKI: for each section, the name (with its NUL),
// then the section's contents, both as EV_IPL events.
std::vector<attest::LogEvent> StubEvents(
    const std::vector<std::pair<std::string, std::string>>& sections);

}  // namespace basalt::testing
