// DSSE envelopes (the in-toto/Sigstore signing format) around Basalt's metadata documents.
// Signatures cover PAE(payloadType, payload) =
//   "DSSEv1" SP len(type) SP type SP len(body) SP body
// so a release document can never be replayed as a channel document or vice versa, and the
// payload is only parsed after the signatures over those exact bytes verify.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/keyring.h"
#include "common/signing.h"

namespace basalt::repo {

inline constexpr std::string_view kReleasePayloadType = "application/vnd.basalt.release+json";
inline constexpr std::string_view kChannelPayloadType = "application/vnd.basalt.channel+json";

// Envelopes and documents are small; anything larger is refused before parsing (endless-data
// defence for fetched metadata, and a bound for the fuzzers).
inline constexpr size_t kMaxEnvelopeSize = 1 << 20;

struct Envelope {
  std::string payload_type;
  std::string payload;  // the decoded body bytes
  std::vector<Signature> signatures;
};

std::string PreAuthEncoding(std::string_view payload_type, std::string_view payload);

// Parses the envelope's JSON strictly (payloadType, payload, signatures[{keyid, sig}], nothing
// else). It does NOT verify anything; use OpenVerified for untrusted input.
Result<Envelope> ParseEnvelope(std::string_view text);

// Signs body with every key and returns the envelope JSON (pretty, trailing newline).
Result<std::string> SignEnvelope(std::string_view payload_type, std::string_view body,
                                 std::span<const PrivateKey> keys);

// Parses the envelope, checks its payloadType, verifies at least `threshold` distinct trusted
// signatures over the PAE, and only then returns the body for the caller to parse. A signed
// document of a newer major format (repo/document_format.h) is refused with kUnsupported.
Result<std::string> OpenVerified(std::string_view text, std::string_view expected_type,
                                 const Keyring& keys, size_t threshold);

// OpenVerified that also says which trusted keys signed (sorted ids): a host records them with a
// channel's metadata version (repo/decision.h, HostState::last_metadata_keys).
struct VerifiedBody {
  std::string body;
  std::vector<std::string> signers;
};
Result<VerifiedBody> OpenVerifiedSigners(std::string_view text, std::string_view expected_type,
                                         const Keyring& keys, size_t threshold);

// N when `payload_type` is major version N >= 2 of `known_type` (the ".vN" form of
// repo/document_format.h), else nullopt.
std::optional<uint64_t> NewerMajorVersion(std::string_view payload_type,
                                          std::string_view known_type);

}  // namespace basalt::repo
