// What the bootloader needs to boot one slot: the kernel command line naming that slot's /usr
// partition and its verity root hash, plus the version for humans. Kernel and initramfs live
// on the ESP at fixed per-slot paths, so switching slots never rewrites the other slot's files.
#pragma once

#include <string>
#include <string_view>

#include "boot/slot_policy.h"
#include "common/error.h"

namespace basalt::boot {

struct SlotEntry {
  std::string version;
  std::string usr_partuuid;   // PARTUUID of the slot's USR partition
  std::string usrhash;        // dm-verity root hash, lower-case hex
  std::string extra_cmdline;  // e.g. "console=ttyS0"
  bool operator==(const SlotEntry&) const = default;
};

std::string SlotKernelPath(Slot slot);      // "/basalt/A/vmlinuz"
std::string SlotInitrdPath(Slot slot);      // "/basalt/A/initrd.img"
std::string GrubSlotConfigPath(Slot slot);  // "/basalt/A.cfg"

// "basalt.usr=PARTUUID=... basalt.usrhash=... <extra>"
std::string SlotKernelCmdline(const SlotEntry& entry);

// Values end up inside double-quoted GRUB strings and BLS option lines: refuse characters that
// would change their meaning there.
Status ValidateSlotEntry(const SlotEntry& entry);

// The per-slot GRUB config sourced by grub.cfg: `set basalt_version="..."` and friends.
Result<std::string> RenderGrubSlotConfig(Slot slot, const SlotEntry& entry);
Result<SlotEntry> ParseGrubSlotConfig(std::string_view text);

}  // namespace basalt::boot
