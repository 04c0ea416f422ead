// BLS entry names and contents and GRUB slot configs are read back from the ESP, which anyone
// with access to the FAT can change: none of the parsers may crash, and what parses must
// render and parse back identically.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "backends/systemd-boot/bls_layout.h"
#include "boot/slot_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace basalt::boot;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto name = ParseBlsName(in);
  if (name && *name) {
    auto again = ParseBlsName(FormatBlsName(**name));
    if (!again || !*again || **again != **name) std::abort();
  }
  if (auto e = ParseBlsEntry(in)) {
    if (!RenderBlsEntry(Slot::kA, *e)) std::abort();
  }
  if (auto e = ParseGrubSlotConfig(in)) {
    auto text = RenderGrubSlotConfig(Slot::kB, *e);
    if (!text) std::abort();
    auto back = ParseGrubSlotConfig(*text);
    if (!back || *back != *e) std::abort();
  }
  return 0;
}
