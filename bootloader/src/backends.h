// Constructors of the three BootControl backends. Each reads and writes its state through an
// EspFiles (mounted directory or mtools) and, for gptprio, the GPT of `disk` via libfdisk.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "boot/boot_control.h"
#include "esp_files.h"

namespace basalt::boot {

std::unique_ptr<BootControl> NewGrubBootControl(std::unique_ptr<EspFiles> esp,
                                                std::optional<Slot> current);
std::unique_ptr<BootControl> NewSdBootControl(std::unique_ptr<EspFiles> esp,
                                              std::optional<Slot> current);
std::unique_ptr<BootControl> NewGptPrioBootControl(std::string disk, std::unique_ptr<EspFiles> esp,
                                                   std::optional<Slot> current);

// Writes the kernel, initramfs and the GRUB-style slot config (used by grub and gptprio).
Status InstallGrubStyleSlot(EspFiles& esp, Slot slot, const SlotEntry& entry,
                            const std::string& kernel_file, const std::string& initrd_file);
Result<std::optional<SlotEntry>> ReadGrubStyleSlot(EspFiles& esp, Slot slot);

}  // namespace basalt::boot
