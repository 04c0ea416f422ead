// systemd-boot backend layout: Boot Loader Specification type-1 entries with boot counting.
//   /EFI/BOOT/BOOTX64.EFI             systemd-bootx64.efi from systemd-boot-efi
//   /loader/loader.conf               "default basalt-*", timeout
//   /loader/entries/basalt-P-S[+L[-D]].conf
//   /basalt/A/vmlinuz, A/initrd.img, and the same for B
// P is the slot priority and S the slot letter. systemd-boot orders entries that have tries
// left (or no counter) before those at +0, then by entry name in descending version order, and
// `default basalt-*` takes the first: so the priority has to be in the name. +L-D is systemd's
// boot counter: systemd-boot moves one try from L to D on every boot, and systemd-bless-boot
// (or `basalt boot mark-good`) drops the counter once the boot is good.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/grub/grub_layout.h"  // EspTextFile
#include "boot/slot_entry.h"
#include "boot/slot_policy.h"

namespace basalt::boot {

inline constexpr char kBlsEntriesDir[] = "/loader/entries";
inline constexpr char kLoaderConfPath[] = "/loader/loader.conf";

struct BlsName {
  int priority = 0;
  Slot slot = Slot::kA;
  std::optional<int> tries_left;  // absent: no counter, i.e. blessed (good)
  int tries_done = 0;
  bool operator==(const BlsName&) const = default;
};

// nullopt for names that are not ours ("other-os.conf"); an error for "basalt-..." names that
// are malformed. `suffix` is ".conf" for type-1 entries, ".efi" for type-2 (UKI) entries.
Result<std::optional<BlsName>> ParseBlsName(std::string_view file_name,
                                            std::string_view suffix = ".conf");
std::string FormatBlsName(const BlsName& name, std::string_view suffix = ".conf");

SlotAttributes AttributesFromBlsName(const BlsName& name);
// Keeps tries_done when the counter is kept, like systemd-boot does.
BlsName BlsNameFromAttributes(Slot slot, const SlotAttributes& attrs, int tries_done);

Result<std::string> RenderBlsEntry(Slot slot, const SlotEntry& entry);
Result<SlotEntry> ParseBlsEntry(std::string_view text);

std::string RenderLoaderConf(int timeout_seconds = 0);

// Text files for a fresh image with slot A good: loader.conf and A's entry. The caller places
// systemd-bootx64.efi at kEfiBootPath and A's kernel and initramfs.
Result<std::vector<EspTextFile>> SdBootEspFiles(const SlotEntry& slot_a, int timeout_seconds = 0);

}  // namespace basalt::boot
