// Finds what BootControl works on: an offline disk image (--disk), or the running host (the
// disk holding the /usr partition named on /proc/cmdline), and which backend it uses.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "boot/boot_control.h"

namespace basalt::boot {

struct BootTarget {
  std::optional<std::string> disk;     // offline image or device; absent: the running host
  std::optional<std::string> backend;  // a name in boot/backends.h; absent: detect
  std::string proc_cmdline = "/proc/cmdline";
};

// Without a backend named, the ESP's state decides (DetectBootBackend in boot/backends.h: BLS
// entries named basalt-* → systemd-boot; /basalt/grubenv → grub; otherwise gptprio).
Result<std::unique_ptr<BootControl>> OpenBootControl(const BootTarget& target);

// The running slot from a kernel command line: basalt.usr= (or mount.usr=) naming USR-A's or
// USR-B's PARTUUID or PARTLABEL. nullopt if the command line names neither.
std::optional<Slot> SlotFromCmdline(std::string_view cmdline, std::string_view usr_a_partuuid,
                                    std::string_view usr_b_partuuid);

}  // namespace basalt::boot
