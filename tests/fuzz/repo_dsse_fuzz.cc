// DSSE envelope parsing and verification on hostile bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/keyring.h"
#include "repo/dsse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)basalt::repo::ParseEnvelope(text);
  // An empty keyring: verification must fail cleanly whatever the envelope holds.
  basalt::Keyring none;
  (void)basalt::repo::OpenVerified(text, basalt::repo::kChannelPayloadType, none, 1);
  return 0;
}
