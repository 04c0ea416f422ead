// How Basalt's signed metadata documents (channels, releases) change without stranding the hosts
// already in the field (docs/repository.md, "Document versions"):
// - The major version is part of the DSSE payloadType. Version 1 is the plain type
//   ("application/vnd.basalt.channel+json"); version N > 1 appends ".vN" before "+json". A host
//   refuses a major it does not know: such a document may hold rules the host cannot follow.
// - Within a major, a document's "format_minor" field (absent: 0) counts the optional fields added
//   since. A field added in a minor version must be optional, and its absence must mean exactly
//   what hosts of the older minor do; a host reading a newer minor ignores the fields it does not
//   know. Anything a host must not ignore (a new restriction) needs a new major.
// - A writer sets format_minor to the lowest minor that holds every field it writes, so that old
//   hosts read documents that use no new field strictly.
#pragma once

#include <cstdint>
#include <string_view>

namespace basalt::repo {

inline constexpr std::string_view kFormatMinorField = "format_minor";
// The minor versions this build reads and writes. Channel minor 1: release_sha256; minor 2:
// repository. Release minor 1: repository; minor 2: kernel.cmdline; minor 3: boot; minor 4:
// boot.uki.<slot>.measurements.
inline constexpr uint32_t kChannelFormatMinor = 3;
inline constexpr uint32_t kReleaseFormatMinor = 4;

}  // namespace basalt::repo
