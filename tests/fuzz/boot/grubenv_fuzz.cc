// grubenv parser on hostile input: must never crash, and whatever parses must serialize back
// to a block that parses to the same variables.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "backends/grub/grub_layout.h"
#include "backends/grub/grubenv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto env = basalt::boot::ParseGrubEnv(in);
  if (!env) return 0;
  (void)basalt::boot::LoadTableFromGrubEnv(*env);
  auto block = basalt::boot::SerializeGrubEnv(*env);
  if (block) {
    auto again = basalt::boot::ParseGrubEnv(*block);
    if (!again || *again != *env) std::abort();
  }
  return 0;
}
