// Omaha responses come from a server the host does not trust with its payload; the parser must
// reject anything malformed with an error and never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "omaha_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto r = basalt::fleet::ParseOmahaResponse(xml, "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}");
  if (r && r->update && (r->offer.urls.empty() || r->offer.sha256.size() != 64)) __builtin_trap();
  (void)basalt::fleet::ParseOmahaResponse(xml, "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}", false);
  return 0;
}
