// The strict release document parser on hostile bytes; whatever it accepts must round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "repo/release.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto rel = basalt::repo::ParseRelease(text);
  if (rel) {
    auto again = basalt::repo::ParseRelease(basalt::repo::SerializeRelease(*rel));
    if (!again || !(*again == *rel)) std::abort();
  }
  return 0;
}
