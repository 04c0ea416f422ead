// GRUB's environment block: exactly 1024 bytes, "# GRUB Environment Block\n", key=value lines,
// '#' padding. grub-editenv and GRUB's load_env/save_env read what this writes.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::image {

inline constexpr size_t kGrubenvSize = 1024;

// Keys are written in map order. Keys must be [A-Za-z0-9_]+ and values must not hold '\n'
// or '\\' (GRUB would need escapes; none of our values need them).
Result<std::string> SerializeGrubenv(const std::map<std::string, std::string>& vars);
Result<std::map<std::string, std::string>> ParseGrubenv(std::string_view block);

}  // namespace basalt::image
