#include "attest/quote_document.h"

#include <nlohmann/json.hpp>

#include "attest/event_log.h"
#include "common/base64.h"
#include "common/hex.h"
#include "repo/json_fields.h"

namespace basalt::attest {
namespace {

using repo::FieldReader;

Result<std::string> BoundedString(FieldReader& r, std::string_view key, size_t max) {
  BASALT_ASSIGN_OR_RETURN(std::string s, r.String(key));
  if (s.empty() || s.size() > max) {
    return Failf(ErrorKind::kInvalidInput, "{}: length {} is not in 1..{}", r.Name(key), s.size(),
                 max);
  }
  return s;
}

// Base64 of 1..max bytes. The length is checked on the text first, so a huge field is refused
// before it is decoded.
Result<std::vector<uint8_t>> Base64Field(FieldReader& r, std::string_view key, size_t max) {
  BASALT_ASSIGN_OR_RETURN(std::string s, r.String(key));
  if (s.size() > (max + 2) / 3 * 4) {
    return Failf(ErrorKind::kInvalidInput, "{}: more than {} bytes", r.Name(key), max);
  }
  auto bytes = Base64Decode(s);
  if (!bytes) return std::unexpected(std::move(bytes).error().WithContext(r.Name(key)));
  if (bytes->empty() || bytes->size() > max) {
    return Failf(ErrorKind::kInvalidInput, "{}: {} bytes is not in 1..{}", r.Name(key),
                 bytes->size(), max);
  }
  return bytes;
}

// A PCR index as a JSON key: decimal without leading zeros, 0..23.
Result<uint32_t> PcrIndex(const std::string& key) {
  const bool digits = !key.empty() && key.size() <= 2 &&
                      key.find_first_not_of("0123456789") == std::string::npos &&
                      (key.size() == 1 || key[0] != '0');
  if (!digits || std::stoul(key) > kMaxPcrIndex) {
    return Failf(ErrorKind::kInvalidInput, "attestation.pcrs: \"{}\" is not a PCR index 0..{}",
                 key.substr(0, 16), kMaxPcrIndex);
  }
  return static_cast<uint32_t>(std::stoul(key));
}

}  // namespace

std::string FormatAttestationDocument(const AttestationDocument& doc) {
  nlohmann::json pcrs = nlohmann::json::object();
  for (const auto& [index, value] : doc.pcrs)
    pcrs[std::to_string(index)] = value;
  nlohmann::json j = {
      {"format", kAttestationFormat},
      {"format_minor", kAttestationFormatMinor},
      {"host", doc.host},
      {"claim", {{"version", doc.claim_version}, {"slot", doc.claim_slot}}},
      {"ak", doc.ak_pem},
      {"nonce", ToHex(doc.nonce)},
      {"quote", {{"attest", Base64Encode(doc.attest)}, {"signature", Base64Encode(doc.signature)}}},
      {"pcrs", pcrs},
      {"event_log", Base64Encode(doc.event_log)},
  };
  return j.dump();
}

Result<AttestationDocument> ParseAttestationDocument(std::string_view text) {
  if (text.size() > kMaxDocumentBytes) {
    return Failf(ErrorKind::kInvalidInput, "attestation: {} bytes is above the cap of {}",
                 text.size(), kMaxDocumentBytes);
  }
  BASALT_ASSIGN_OR_RETURN(nlohmann::json j, repo::ParseJson(text, "attestation"));
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(j, "attestation"));
  BASALT_ASSIGN_OR_RETURN(std::string format, r.String("format"));
  if (format != kAttestationFormat) {
    return Failf(ErrorKind::kInvalidInput, "attestation.format: \"{}\" is not \"{}\"",
                 format.substr(0, 64), kAttestationFormat);
  }
  BASALT_ASSIGN_OR_RETURN(repo::UnknownFields unknown,
                          repo::ReadFormatMinor(r, kAttestationFormatMinor));
  AttestationDocument doc;
  BASALT_ASSIGN_OR_RETURN(doc.host, BoundedString(r, "host", 255));

  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* claim_json, r.Object("claim"));
  BASALT_ASSIGN_OR_RETURN(FieldReader claim,
                          FieldReader::Open(*claim_json, "attestation.claim", unknown));
  BASALT_ASSIGN_OR_RETURN(doc.claim_version, BoundedString(claim, "version", 128));
  BASALT_ASSIGN_OR_RETURN(doc.claim_slot, claim.String("slot"));
  if (doc.claim_slot != "A" && doc.claim_slot != "B") {
    return Fail(ErrorKind::kInvalidInput, "attestation.claim.slot: must be \"A\" or \"B\"");
  }
  BASALT_RETURN_IF_ERROR(claim.Finish());

  BASALT_ASSIGN_OR_RETURN(doc.ak_pem, BoundedString(r, "ak", kMaxAkPemBytes));
  BASALT_ASSIGN_OR_RETURN(std::string nonce, r.String("nonce"));
  BASALT_RETURN_IF_ERROR(repo::CheckHex(nonce, 0, "attestation.nonce"));
  if (nonce.size() > 2 * kMaxNonceBytes) {
    return Failf(ErrorKind::kInvalidInput, "attestation.nonce: more than {} bytes", kMaxNonceBytes);
  }
  BASALT_ASSIGN_OR_RETURN(doc.nonce, FromHex(nonce));

  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* quote_json, r.Object("quote"));
  BASALT_ASSIGN_OR_RETURN(FieldReader quote,
                          FieldReader::Open(*quote_json, "attestation.quote", unknown));
  BASALT_ASSIGN_OR_RETURN(doc.attest, Base64Field(quote, "attest", kMaxAttestBytes));
  BASALT_ASSIGN_OR_RETURN(doc.signature, Base64Field(quote, "signature", kMaxSignatureBytes));
  BASALT_RETURN_IF_ERROR(quote.Finish());

  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* pcrs, r.Object("pcrs"));
  if (pcrs->empty()) return Fail(ErrorKind::kInvalidInput, "attestation.pcrs: no PCRs");
  for (const auto& [key, value] : pcrs->items()) {
    BASALT_ASSIGN_OR_RETURN(uint32_t index, PcrIndex(key));
    const std::string name = fmt::format("attestation.pcrs.{}", index);
    if (!value.is_string()) {
      return Failf(ErrorKind::kInvalidInput, "{}: expected a string, got {}", name,
                   value.type_name());
    }
    const std::string& hex = value.get_ref<const std::string&>();
    BASALT_RETURN_IF_ERROR(repo::CheckHex(hex, 32, name));
    doc.pcrs.emplace(index, hex);
  }
  BASALT_ASSIGN_OR_RETURN(doc.event_log, Base64Field(r, "event_log", kMaxLogBytes));
  BASALT_RETURN_IF_ERROR(r.Finish());
  return doc;
}

}  // namespace basalt::attest
