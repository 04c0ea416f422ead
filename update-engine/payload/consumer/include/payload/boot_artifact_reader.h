// Reads a payload's boot artifacts (a slot's signed UKI) out of its blob area, verified against
// the signed manifest before anything is returned or written: the blob's SHA-256 before it is
// decoded, the decoded bytes' size and SHA-256 after.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/hash.h"
#include "common/keyring.h"
#include "payload/reader.h"
#include "payload/source.h"

namespace basalt::payload {

// The bytes of the artifact `name` of the payload whose head `head` was read from `src` with a
// keyring (ReadHead; its signatures verified). `src` must stand where ReadHead left it, at the
// blob area; it is read forward past the artifact and the one it is patched from. kNotFound when
// the manifest carries no such artifact; kIntegrity when a blob or the result does not match.
Result<std::vector<uint8_t>> ReadBootArtifact(PayloadSource& src, const PayloadHead& head,
                                              std::string_view name);

// Reads every artifact's blob from `src`, which stands at the first one (right after the
// operations' data), and checks its SHA-256 in pieces, without decoding it: what the applier
// and VerifyPayload do after the operations. Returns the bytes read.
Result<uint64_t> CheckBootArtifactBlobs(PayloadSource& src, const PayloadHead& head);

struct ExtractedBootArtifact {
  uint64_t size = 0;
  Sha256Digest sha256{};
};

// Verifies the payload file's signatures (threshold over `keyring`), reads the artifact `name`
// as ReadBootArtifact and only then writes it to `dest` crash-safely (a temporary file, fsync,
// rename, fsync of the directory): `dest` is the old file or the whole verified new one.
Result<ExtractedBootArtifact> ExtractBootArtifact(const std::string& payload_path,
                                                  const Keyring& keyring, size_t threshold,
                                                  std::string_view name, const std::string& dest);

}  // namespace basalt::payload
