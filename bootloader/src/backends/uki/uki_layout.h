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
#include "boot/uki_entry.h"

namespace basalt::boot {

inline constexpr char kUkiDir[] = "/EFI/Linux";
inline constexpr char kUkiSuffix[] = ".efi";
// Slot A of a fresh image: good, priority 1 (FormatBlsName of that state).
inline constexpr char kFreshUkiPathA[] = "/EFI/Linux/basalt-1-A.efi";

// A fresh image's text files: loader.conf. Slot A's UKI is built and placed by the image
// builder (it is not text, and it must be signed).
Result<std::vector<EspTextFile>> UkiEspFiles(const SlotEntry& slot_a);

}  // namespace basalt::boot
