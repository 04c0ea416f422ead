// ELF files come from the image's tree: the reader must reject anything malformed, never crash.
#include <cstdint>
#include <string_view>

#include "elf_deps.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)basalt::boot::ReadElfDeps(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
