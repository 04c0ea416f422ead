// The GRUB backend's files on the ESP, generated here so the image builder and the backend
// agree. Layout:
//   /EFI/BOOT/BOOTX64.EFI   GRUB EFI image (grub-mkimage, prefix /EFI/BOOT)
//   /EFI/BOOT/grub.cfg      generated below; slot choice in GRUB script
//   /basalt/grubenv         slot state: basalt_{A,B}_{priority,tries,ok}
//   /basalt/A.cfg, B.cfg    per-slot command line (slot_entry.h)
//   /basalt/A/vmlinuz, A/initrd.img, and the same for B
#pragma once

#include <string>
#include <vector>

#include "backends/grub/grubenv.h"
#include "boot/backends.h"  // EspTextFile
#include "boot/slot_entry.h"
#include "boot/slot_policy.h"

namespace basalt::boot {

inline constexpr char kGrubCfgPath[] = "/EFI/BOOT/grub.cfg";
inline constexpr char kGrubEnvPath[] = "/basalt/grubenv";
inline constexpr char kEfiBootPath[] = "/EFI/BOOT/BOOTX64.EFI";

struct GrubCfgOptions {
  int timeout_seconds = 0;
  bool serial_console = true;  // mirror the menu on ttyS0 too
};

// grub.cfg implementing SelectNext/ConsumeBootAttempt (slot_policy.h) in GRUB script: no
// arithmetic, so the tries countdown is an explicit if/elif chain from kMaxTries down.
std::string RenderGrubCfg(const GrubCfgOptions& options = {});

// Merges the slot table into `env`, keeping unrelated variables.
void StoreTableInGrubEnv(const SlotTable& table, GrubEnv& env);
// Missing variables read as 0 (a fresh env); present ones must be numbers in range.
Result<SlotTable> LoadTableFromGrubEnv(const GrubEnv& env);

// The text files of a fresh image: grub.cfg, grubenv with slot A good (priority 1, successful)
// and B empty, and A.cfg. The caller also places BOOTX64.EFI (GrubMkimageArgv), and slot A's
// kernel and initramfs at SlotKernelPath(kA)/SlotInitrdPath(kA).
Result<std::vector<EspTextFile>> GrubEspFiles(const SlotEntry& slot_a,
                                              const GrubCfgOptions& options = {});

// The gptprio backend's grub.cfg: Flatcar GRUB's gptprio.next picks the slot from the GPT
// attribute bits (and counts its tries down); without that command, slot A boots.
std::string RenderGptPrioGrubCfg(const GrubCfgOptions& options = {});
// grub.cfg and A.cfg for a fresh gptprio image (no grubenv: the state is in the GPT).
Result<std::vector<EspTextFile>> GptPrioEspFiles(const SlotEntry& slot_a,
                                                 const GrubCfgOptions& options = {});

// grub-mkimage invocation building a BOOTX64.EFI whose $prefix is /EFI/BOOT on the device it
// was loaded from, with the modules grub.cfg uses.
std::vector<std::string> GrubMkimageArgv(const std::string& output);

}  // namespace basalt::boot
