// ELF files come from the image's tree: the reader must reject anything malformed, never crash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "elf_deps.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto deps =
      basalt::boot::ReadElfDeps(std::string_view(reinterpret_cast<const char*>(data), size));
  // A rejection says why.
  if (!deps && deps.error().message().empty()) std::abort();
  return 0;
}
