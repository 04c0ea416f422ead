// The grub backend's entry points for the registry (boot/backends.h), and the GRUB-style slot
// files (/basalt/<slot>.cfg next to the slot's kernel and initramfs) that gptprio shares.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "boot/backends.h"
#include "esp_files.h"

namespace basalt::boot {

// State in /basalt/grubenv on the ESP; `disk` is not used.
std::unique_ptr<BootControl> NewGrubBootControl(std::string_view name, std::string disk,
                                                std::unique_ptr<EspFiles> esp,
                                                std::optional<Slot> current);
// Detection: the ESP has /basalt/grubenv (or the .old copy a crash may leave).
Result<bool> HasGrubEnv(EspFiles& esp);
// BOOTX64.EFI from grub-mkimage (GrubMkimageArgv), built in options.scratch_dir.
Result<std::string> BuildGrubEfi(const FreshEspOptions& options);

// Writes the kernel, initramfs and the GRUB-style slot config (used by grub and gptprio).
Status InstallGrubStyleSlot(EspFiles& esp, Slot slot, const SlotEntry& entry,
                            const std::string& kernel_file, const std::string& initrd_file);
Result<std::optional<SlotEntry>> ReadGrubStyleSlot(EspFiles& esp, Slot slot);

}  // namespace basalt::boot
