// The JSON documents of an OCI image layout (index.json, the image manifest, the image config),
// parsed from text into what staging needs. Pure functions: no file access, so the fuzzer drives
// exactly the code the builder runs. Errors are kInvalidInput (kUnsupported for well-formed
// documents we do not handle) and never name the layout: the caller adds that context.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::image {

struct OciDescriptor {
  std::string media_type;
  std::string digest;  // "sha256:" + 64 lowercase hex digits (validated)
  uint64_t size = 0;   // as declared; 0 when absent
};

// "sha256:" + 64 lowercase hex digits, the only form accepted (it is also a safe file name).
bool IsSha256Digest(std::string_view digest);

// index.json: the linux/amd64 manifest when the index names platforms, else the first one.
Result<OciDescriptor> ParseOciIndex(std::string_view text);

struct OciManifest {
  OciDescriptor config;
  std::vector<OciDescriptor> layers;  // in order, lowest first; no digest twice
};

// The image manifest. Refuses nested indexes, non-distributable layers, a malformed digest and a
// layer listed twice (applying it twice would make its whiteouts delete its own files).
Result<OciManifest> ParseOciManifest(std::string_view text);

struct OciConfig {
  std::string os;            // "" when absent
  std::string architecture;  // "" when absent
};

// The image config: an object whose os, when given, is linux.
Result<OciConfig> ParseOciConfig(std::string_view text);

}  // namespace basalt::image
