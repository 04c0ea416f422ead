// The uki backend's entry points for the registry (boot/backends.h).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "boot/backends.h"
#include "esp_files.h"

namespace basalt::boot {

// State in the names of the UKIs in /EFI/Linux (uki_layout.h); `disk` is not used.
std::unique_ptr<BootControl> NewUkiBootControl(std::string_view name, std::string disk,
                                               std::unique_ptr<EspFiles> esp,
                                               std::optional<Slot> current);
// Detection: a file named basalt-*.efi in /EFI/Linux.
Result<bool> HasBasaltUkis(EspFiles& esp);

}  // namespace basalt::boot
