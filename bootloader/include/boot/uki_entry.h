// What a slot's Unified Kernel Image says about the slot: the sections the image builder writes
// (.cmdline, .osrel) and the uki backend reads back (bootloader/src/backends/uki/).
#pragma once

#include <string>
#include <string_view>

#include "boot/slot_entry.h"
#include "boot/slot_policy.h"
#include "common/error.h"

namespace basalt::boot {

// The .cmdline section of slot `slot`'s UKI: SlotKernelCmdline (basalt.usr=PARTUUID=...
// basalt.usrhash=... and the release's extra arguments).
Result<std::string> RenderUkiCmdline(const SlotEntry& entry);

// The .osrel section: NAME, PRETTY_NAME and IMAGE_VERSION (the Basalt version). *No* ID or
// IMAGE_ID: systemd-boot 252 sorts entries that have one by it and then by version, newest
// first, which would boot the newer slot after an operator's rollback; without one it sorts by
// the entry name, which carries the slot priority (bls_layout.h).
std::string RenderUkiOsRelease(std::string_view os_name, const SlotEntry& entry, Slot slot);

// What a UKI's .cmdline and .osrel say: version (IMAGE_VERSION), PARTUUID, root hash, the rest
// of the command line. The file is untrusted here (anyone who can write the ESP can replace
// it; the firmware only checks it at boot), so every field is validated.
Result<SlotEntry> ParseUkiEntry(std::string_view uki);

}  // namespace basalt::boot
