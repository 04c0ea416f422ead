// Parsers of untrusted image inputs: the tree's dpkg status database and the image definition
// TOML (grubenv is fuzzed in tests/fuzz/boot). Selected by FUZZ_TARGET at compile time.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
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
    // What the builder writes as sbom.spdx.json must read back as JSON.
    std::string sbom =
        basalt::image::MakeSpdx(in).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    if (nlohmann::json::parse(sbom, nullptr, false).is_discarded()) std::abort();
  }
#elif defined(FUZZ_DEFINITION)
  // What parses has whole-MiB partition sizes; a rejection says why.
  auto def = basalt::image::ParseDefinition(text, "fuzz.toml");
  if (!def) {
    if (def.error().message().empty()) std::abort();
    return 0;
  }
  for (uint64_t size : {def->sizes.esp, def->sizes.usr, def->sizes.oem, def->sizes.root}) {
    if (size == 0 || size % basalt::image::kMiB != 0) std::abort();
  }
#endif
  return 0;
}
