// The two things an initramfs needs to know about a dynamically linked ELF executable or
// library: its program interpreter (PT_INTERP) and the sonames it needs (DT_NEEDED). A minimal
// reader for 64-bit little-endian ELF, which is what Debian amd64 ships; anything else is
// rejected with the reason.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::boot {

struct ElfDeps {
  std::string interpreter;          // empty for static executables and libraries
  std::vector<std::string> needed;  // in DT_NEEDED order
};

Result<ElfDeps> ReadElfDeps(std::string_view image);

}  // namespace basalt::boot
