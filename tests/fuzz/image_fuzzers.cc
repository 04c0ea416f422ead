// Parsers of untrusted image inputs: the tree's dpkg status database and the image definition
// TOML (grubenv is fuzzed in tests/fuzz/boot). Selected by FUZZ_TARGET at compile time.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "image/definition.h"
#include "sbom.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
#if defined(FUZZ_DPKG_STATUS)
  auto r = basalt::image::ParseDpkgStatus(text);
  if (r) {
    basalt::image::SbomInputs in;
    in.packages = *r;
    (void)basalt::image::MakeSpdx(in).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  }
#elif defined(FUZZ_DEFINITION)
  (void)basalt::image::ParseDefinition(text, "fuzz.toml");
#endif
  return 0;
}
