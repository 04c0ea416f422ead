// The attestation document: what a host sends an operator to show what it booted. It carries
// the host's claim (release version and slot), its attestation key, a TPM quote over PCRs with
// the operator's nonce, the PCR values quoted, and the TCG event log that explains them. Nothing
// in it is trusted as written: VerifyAttestation (attest/verify.h) checks it against an enrolled
// key and a release's predictions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::attest {

inline constexpr std::string_view kAttestationFormat = "basalt-attestation";
inline constexpr uint32_t kAttestationFormatMinor = 0;

// Caps for a document from an untrusted host. The event log cap is the parser's
// (attest/event_log.h); the document's is that as base64 plus room for the rest.
inline constexpr size_t kMaxNonceBytes = 64;  // a TPM2B_DATA
inline constexpr size_t kMaxAttestBytes = 1024;
inline constexpr size_t kMaxSignatureBytes = 1024;
inline constexpr size_t kMaxAkPemBytes = 4096;
inline constexpr size_t kMaxDocumentBytes = 24 << 20;

struct AttestationDocument {
  std::string host = {};
  std::string claim_version = {};
  std::string claim_slot = {};  // "A" or "B"
  std::string ak_pem = {};      // SubjectPublicKeyInfo PEM
  std::vector<uint8_t> nonce = {};
  std::vector<uint8_t> attest = {};           // TPMS_ATTEST as the TPM marshalled it
  std::vector<uint8_t> signature = {};        // TPMT_SIGNATURE, marshalled
  std::map<uint32_t, std::string> pcrs = {};  // SHA-256 bank, lower-case hex
  std::vector<uint8_t> event_log = {};

  bool operator==(const AttestationDocument&) const = default;
};

// One line of JSON ({"format":"basalt-attestation","format_minor":0,"host":...}).
std::string FormatAttestationDocument(const AttestationDocument& doc);

// Strict: unknown fields, wrong types, bad hex or base64, a PCR index outside 0..23 or a value
// that is not 32 bytes of lower-case hex, and anything above the caps fail with kInvalidInput
// naming the field. A newer format_minor's unknown fields are ignored (docs/repository.md).
Result<AttestationDocument> ParseAttestationDocument(std::string_view text);

}  // namespace basalt::attest
