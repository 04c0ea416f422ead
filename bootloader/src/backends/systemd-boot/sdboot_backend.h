// The systemd-boot backend's entry points for the registry (boot/backends.h).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "boot/backends.h"
#include "esp_files.h"

namespace basalt::boot {

// State in the names of the BLS entries on the ESP (bls_layout.h); `disk` is not used.
std::unique_ptr<BootControl> NewSdBootControl(std::string_view name, std::string disk,
                                              std::unique_ptr<EspFiles> esp,
                                              std::optional<Slot> current);
// Detection: an entry named basalt-*.conf in /loader/entries.
Result<bool> HasBasaltBlsEntries(EspFiles& esp);
// systemd-bootx64.efi, read from options.sdboot_efi (Debian's systemd-boot-efi).
Result<std::string> ReadSdBootEfi(const FreshEspOptions& options);

}  // namespace basalt::boot
