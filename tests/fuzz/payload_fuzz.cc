// Fuzzes everything that parses a payload's untrusted head: header, signature block and
// manifest validation (signatures are not checked here, so the manifest parser is reached).
#include <cstddef>
#include <cstdint>

#include "payload/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  basalt::payload::MemoryPayloadSource src(std::span(data, size));
  auto head = basalt::payload::ReadHead(src, nullptr, 1);
  if (size > basalt::payload::kHeaderSize) {
    // The manifest parser on its own, with each minor version.
    auto bytes =
        std::span(data + basalt::payload::kHeaderSize, size - basalt::payload::kHeaderSize);
    (void)basalt::payload::DecodeManifest(bytes, basalt::payload::kMinorFull);
    (void)basalt::payload::DecodeManifest(bytes, basalt::payload::kMinorDelta);
    // The latest: boot artifacts (seed full-uki-head.payload).
    (void)basalt::payload::DecodeManifest(bytes, basalt::payload::kMaxSupportedMinor);
    (void)basalt::payload::DecodeSignatures(bytes);
  }
  return 0;
}
