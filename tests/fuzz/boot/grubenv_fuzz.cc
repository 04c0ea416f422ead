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
  // A table that loads is in range and stores back to itself.
  if (auto table = basalt::boot::LoadTableFromGrubEnv(*env)) {
    for (const auto& slot : *table) {
      if (slot.priority < 0 || slot.priority > basalt::boot::kMaxPriority || slot.tries < 0 ||
          slot.tries > basalt::boot::kMaxTries) {
        std::abort();
      }
    }
    basalt::boot::GrubEnv stored = *env;
    basalt::boot::StoreTableInGrubEnv(*table, stored);
    auto reloaded = basalt::boot::LoadTableFromGrubEnv(stored);
    if (!reloaded || *reloaded != *table) std::abort();
  }
  auto block = basalt::boot::SerializeGrubEnv(*env);
  if (block) {
    auto again = basalt::boot::ParseGrubEnv(*block);
    if (!again || *again != *env) std::abort();
  }
  return 0;
}
