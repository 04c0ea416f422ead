// GRUB's environment block: exactly 1024 bytes, the header "# GRUB Environment Block\n",
// "key=value\n" lines, and '#' padding to the end. GRUB's save_env rewrites the block in
// place, so the size never changes; grub-editenv reads what we write.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::boot {

inline constexpr size_t kGrubEnvSize = 1024;
inline constexpr std::string_view kGrubEnvHeader = "# GRUB Environment Block\n";

// Ordered by key so the serialized block is reproducible.
using GrubEnv = std::map<std::string, std::string>;

// Rejects a block of the wrong size, a missing header, a line without '=', an empty or
// non-identifier key, a duplicate key, or text after the padding starts.
Result<GrubEnv> ParseGrubEnv(std::string_view block);

// Fails if a key or value cannot be represented (newline, '=' in a key, backslash) or if the
// variables do not fit in 1024 bytes.
Result<std::string> SerializeGrubEnv(const GrubEnv& env);

}  // namespace basalt::boot
