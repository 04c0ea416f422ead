// Parsers of untrusted image inputs: the tree's dpkg status database, the image definition TOML
// and the JSON documents of an OCI image layout (grubenv is fuzzed in tests/fuzz/boot). Selected
// by FUZZ_TARGET at compile time.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "image/definition.h"
#include "oci_layout.h"
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
#elif defined(FUZZ_OCI_LAYOUT)
  // The first byte picks the document; the rest is its text. What parses holds only valid
  // digests and no repeated layer; a refusal is one non-empty line.
  if (text.empty()) return 0;
  const char which = text[0];
  text.remove_prefix(1);
  auto one_line = [](const basalt::Error& e) {
    if (e.message().empty() || e.message().find('\n') != std::string::npos) std::abort();
  };
  if (which % 3 == 0) {
    auto index = basalt::image::ParseOciIndex(text);
    if (!index) return one_line(index.error()), 0;
    if (!basalt::image::IsSha256Digest(index->digest)) std::abort();
  } else if (which % 3 == 1) {
    auto manifest = basalt::image::ParseOciManifest(text);
    if (!manifest) return one_line(manifest.error()), 0;
    if (!basalt::image::IsSha256Digest(manifest->config.digest)) std::abort();
    for (size_t i = 0; i < manifest->layers.size(); ++i) {
      if (!basalt::image::IsSha256Digest(manifest->layers[i].digest)) std::abort();
      for (size_t j = 0; j < i; ++j) {
        if (manifest->layers[i].digest == manifest->layers[j].digest) std::abort();
      }
    }
  } else {
    auto config = basalt::image::ParseOciConfig(text);
    if (!config) return one_line(config.error()), 0;
    if (!config->os.empty() && config->os != "linux") std::abort();
  }
#endif
  return 0;
}
