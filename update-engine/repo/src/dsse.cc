#include "repo/dsse.h"

#include "common/base64.h"
#include "common/printable.h"
#include "repo/json_fields.h"

namespace basalt::repo {

std::string PreAuthEncoding(std::string_view payload_type, std::string_view payload) {
  return fmt::format("DSSEv1 {} {} {} ", payload_type.size(), payload_type, payload.size())
      .append(payload);
}

Result<Envelope> ParseEnvelope(std::string_view text) {
  if (text.size() > kMaxEnvelopeSize) {
    return Failf(ErrorKind::kInvalidInput, "envelope: {} bytes exceeds the limit of {}",
                 text.size(), kMaxEnvelopeSize);
  }
  BASALT_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJson(text, "envelope"));
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(doc, "envelope"));
  Envelope env;
  BASALT_ASSIGN_OR_RETURN(env.payload_type, r.String("payloadType"));
  BASALT_ASSIGN_OR_RETURN(std::string payload_b64, r.String("payload"));
  auto payload = Base64Decode(payload_b64);
  if (!payload) return std::unexpected(std::move(payload).error().WithContext("envelope.payload"));
  env.payload.assign(payload->begin(), payload->end());
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* sigs, r.Array("signatures"));
  BASALT_RETURN_IF_ERROR(r.Finish());
  if (sigs->size() > 64) {
    return Fail(ErrorKind::kInvalidInput, "envelope.signatures: more than 64 signatures");
  }
  for (size_t i = 0; i < sigs->size(); ++i) {
    BASALT_ASSIGN_OR_RETURN(
        FieldReader s, FieldReader::Open((*sigs)[i], fmt::format("envelope.signatures[{}]", i)));
    Signature sig;
    BASALT_ASSIGN_OR_RETURN(sig.key_id, s.String("keyid"));
    BASALT_RETURN_IF_ERROR(CheckHex(sig.key_id, 32, s.Name("keyid")));
    BASALT_ASSIGN_OR_RETURN(std::string sig_b64, s.String("sig"));
    auto bytes = Base64Decode(sig_b64);
    if (!bytes) return std::unexpected(std::move(bytes).error().WithContext(s.Name("sig")));
    if (bytes->empty()) return Failf(ErrorKind::kInvalidInput, "{}: empty", s.Name("sig"));
    sig.bytes = std::move(*bytes);
    BASALT_RETURN_IF_ERROR(s.Finish());
    env.signatures.push_back(std::move(sig));
  }
  return env;
}

Result<std::string> SignEnvelope(std::string_view payload_type, std::string_view body,
                                 std::span<const PrivateKey> keys) {
  if (keys.empty()) return Fail(ErrorKind::kInvalidInput, "no signing key given");
  std::string pae = PreAuthEncoding(payload_type, body);
  nlohmann::json sigs = nlohmann::json::array();
  for (const PrivateKey& key : keys) {
    BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> sig, key.Sign(pae));
    sigs.push_back({{"keyid", key.id()}, {"sig", Base64Encode(sig)}});
  }
  nlohmann::json env = {
      {"payloadType", payload_type}, {"payload", Base64Encode(body)}, {"signatures", sigs}};
  return env.dump(2) + "\n";
}

std::optional<uint64_t> NewerMajorVersion(std::string_view payload_type,
                                          std::string_view known_type) {
  constexpr std::string_view kSuffix = "+json";
  if (!known_type.ends_with(kSuffix) || !payload_type.ends_with(kSuffix)) return std::nullopt;
  std::string prefix =
      fmt::format("{}.v", known_type.substr(0, known_type.size() - kSuffix.size()));
  if (!payload_type.starts_with(prefix)) return std::nullopt;
  std::string_view digits =
      payload_type.substr(prefix.size(), payload_type.size() - prefix.size() - kSuffix.size());
  if (digits.empty() || digits.size() > 9 || digits.front() == '0') return std::nullopt;
  uint64_t major = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    major = major * 10 + static_cast<uint64_t>(c - '0');
  }
  if (major < 2) return std::nullopt;
  return major;
}

Result<std::string> OpenVerified(std::string_view text, std::string_view expected_type,
                                 const Keyring& keys, size_t threshold) {
  BASALT_ASSIGN_OR_RETURN(VerifiedBody v,
                          OpenVerifiedSigners(text, expected_type, keys, threshold));
  return std::move(v.body);
}

Result<VerifiedBody> OpenVerifiedSigners(std::string_view text, std::string_view expected_type,
                                         const Keyring& keys, size_t threshold) {
  BASALT_ASSIGN_OR_RETURN(Envelope env, ParseEnvelope(text));
  const std::optional<uint64_t> newer_major = NewerMajorVersion(env.payload_type, expected_type);
  if (env.payload_type != expected_type && !newer_major) {
    // Unsigned text from the network: escaped and cut on a character boundary, so the message
    // stays one line of valid UTF-8 wherever it is recorded (state file, D-Bus, journal).
    return Failf(ErrorKind::kIntegrity, "envelope payloadType is \"{}\", expected \"{}\"",
                 Printable(env.payload_type, 80), expected_type);
  }
  std::string pae = PreAuthEncoding(env.payload_type, env.payload);
  auto ok = keys.VerifyThresholdSigners(
      std::span(reinterpret_cast<const uint8_t*>(pae.data()), pae.size()), env.signatures,
      threshold);
  if (!ok) return std::unexpected(std::move(ok).error().WithContext("envelope signatures"));
  // Only a signed document may say that it is of a newer format: the publisher moved on, and
  // this host needs an update of its own before it can read the repository.
  if (newer_major) {
    return Failf(ErrorKind::kUnsupported,
                 "envelope payloadType is \"{}\": document format version {} is newer than this "
                 "host reads (version 1, \"{}\")",
                 env.payload_type, *newer_major, expected_type);
  }
  return VerifiedBody{std::move(env.payload), std::move(*ok)};
}

}  // namespace basalt::repo
