// Checks of bytes against the SHA-256 digests a signed manifest gives, and the error prefixes
// that tell a delta that cannot be used on this host (IsSourceMismatch) from a broken payload.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::payload {

// The source slot is not the image the delta was made from.
inline constexpr std::string_view kSourceMismatch = "delta source mismatch: ";
// A recompressed destination (SOURCE_LZ4_PATCH, SOURCE_GZIP_PATCH) does not come out as the
// signed bytes on this host (another liblz4 or gzip than the generator's): the delta cannot be
// used here, the full payload can.
inline constexpr std::string_view kNotReproducible = "delta cannot be rebuilt on this host: ";

// `kind` naming `what` unless SHA-256(data) is `expected` (raw digest bytes, from a manifest).
Status CheckDigest(std::span<const uint8_t> data, const std::string& expected, ErrorKind kind,
                   std::string_view what);

// Lower-case hex of raw bytes held in a protobuf string field.
std::string HexOf(const std::string& bytes);

}  // namespace basalt::payload
