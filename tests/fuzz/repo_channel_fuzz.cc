// The strict channel document parser on hostile bytes; whatever it accepts must round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "repo/channel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ch = basalt::repo::ParseChannel(text);
  if (ch) {
    auto again = basalt::repo::ParseChannel(basalt::repo::SerializeChannel(*ch));
    if (!again || !(*again == *ch)) std::abort();
  }
  return 0;
}
