// The gptprio backend's entry point for the registry (boot/backends.h).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "boot/backends.h"
#include "esp_files.h"

namespace basalt::boot {

// State in the GPT attribute bits of USR-A/USR-B on `disk`; the slot entries (version, usr
// hash) are GRUB-style files on `esp`, which may be null (no ESP: bits only).
std::unique_ptr<BootControl> NewGptPrioBootControl(std::string_view name, std::string disk,
                                                   std::unique_ptr<EspFiles> esp,
                                                   std::optional<Slot> current);

}  // namespace basalt::boot
