// uki backend layout: one signed Unified Kernel Image per slot, as Boot Loader Specification
// type-2 entries that systemd-boot finds and counts on its own.
//   /EFI/BOOT/BOOTX64.EFI             systemd-bootx64.efi, signed for Secure Boot
//   /loader/loader.conf               "default basalt-*", timeout, editor no
//   /EFI/Linux/basalt-P-S[+L[-D]].efi slot S's UKI (systemd-stub + kernel + initramfs +
//                                     .cmdline + .osrel), signed
// The names work exactly as the systemd-boot backend's .conf names (bls_layout.h). What a slot
// boots is only in its UKI, which the firmware checks: the command line (the slot's PARTUUID and
// /usr root hash) is the UKI's signed .cmdline section, and systemd-stub ignores any other
// command line while Secure Boot is on.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "boot/backends.h"
#include "boot/slot_entry.h"

namespace basalt::boot {

inline constexpr char kUkiDir[] = "/EFI/Linux";
inline constexpr char kUkiSuffix[] = ".efi";
// Slot A of a fresh image: good, priority 1 (FormatBlsName of that state).
inline constexpr char kFreshUkiPathA[] = "/EFI/Linux/basalt-1-A.efi";

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

// A fresh image's text files: loader.conf. Slot A's UKI is built and placed by the image
// builder (it is not text, and it must be signed).
Result<std::vector<EspTextFile>> UkiEspFiles(const SlotEntry& slot_a);

}  // namespace basalt::boot
