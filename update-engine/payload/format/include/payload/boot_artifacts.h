// Boot artifacts: files a payload carries beside its partitions, installed outside them (the uki
// boot backend's signed UKIs, one per slot). Their names, sizes and SHA-256 are in the signed
// manifest and their bytes in the blob area after every operation's data
// (docs/payload-format.md "Boot artifacts").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "update-engine/proto/payload.pb.h"

namespace basalt::payload {

using proto::BootArtifact;

// The names a manifest may use: a slot's UKI is "uki-<slot>".
inline constexpr std::array<std::string_view, 2> kBootArtifactNames = {"uki-A", "uki-B"};
// An artifact and the one it is patched from must both fit the zstd decoder's 2^27-byte window
// (payload/codec.h), and the applier holds both plus the blob at once.
inline constexpr uint64_t kMaxBootArtifactSize = 64ull << 20;
// Incompressible bytes grow a little in a zstd frame.
inline constexpr uint64_t kMaxBootArtifactDataBytes = kMaxBootArtifactSize + (1ull << 20);

// "uki-A" for slot name "A".
std::string UkiArtifactName(std::string_view slot_name);

// The artifact named `name`; nullptr when the manifest carries none.
const BootArtifact* FindBootArtifact(const proto::Manifest& manifest, std::string_view name);

// The boot artifact rules of ValidateManifest: names from kBootArtifactNames, each once; sizes
// and hashes; a known encoding whose dictionary is an earlier artifact; data contiguous from
// `*blob_cursor` (the end of the operations' data), which is left after the last artifact.
Status CheckBootArtifacts(const proto::Manifest& manifest, uint32_t minor_version,
                          uint64_t* blob_cursor);

}  // namespace basalt::payload
