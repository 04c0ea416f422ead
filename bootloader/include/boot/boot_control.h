// The one boot-control interface, like update_engine's BootControlInterface: the updater and
// the CLI talk to it; the grub, systemd-boot and gptprio backends implement it.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "boot/slot_entry.h"
#include "boot/slot_policy.h"
#include "common/error.h"

namespace basalt::boot {

struct SlotStatus {
  SlotAttributes attributes;
  SlotHealth health = SlotHealth::kBad;
  std::string version;  // empty when the slot has no boot entry
  std::string usrhash;
};

struct BootStatus {
  std::string backend;
  std::optional<Slot> current;  // the running slot; absent offline
  std::optional<Slot> next;     // what the bootloader picks on the next boot
  std::array<SlotStatus, 2> slots;
};

// The files a slot boots, on the host's filesystem; the caller verified them (the updater takes
// them from the slot's verified /usr or from the release's signed payload).
struct SlotBootFiles {
  std::string kernel = {};  // grub, systemd-boot, gptprio
  std::string initrd = {};
  std::string uki = {};  // uki: the slot's signed Unified Kernel Image
};

// Which of SlotBootFiles a backend installs.
enum class BootFilesKind { kKernelAndInitrd, kUki };

class BootControl {
 public:
  virtual ~BootControl() = default;
  virtual std::string_view backend() const = 0;
  virtual std::optional<Slot> current() const = 0;

  virtual Result<BootStatus> GetStatus() = 0;
  // `slot` becomes next with `tries` boot attempts; the other slot stays the fallback.
  virtual Status SetNext(Slot slot, int tries) = 0;
  virtual Status MarkGood(Slot slot) = 0;
  virtual Status MarkBad(Slot slot) = 0;
  // Makes the other slot (than the running one; offline, than the next one) next, if it is good.
  virtual Status Rollback() = 0;
  // What InstallSlot needs in SlotBootFiles.
  virtual BootFilesKind boot_files_kind() const { return BootFilesKind::kKernelAndInitrd; }
  // Writes the slot's boot files (kernel and initramfs, or its UKI) and boot entry on the ESP.
  // The caller marks the slot bad first (the updater does), so a crash halfway never leaves it
  // selectable.
  virtual Status InstallSlot(Slot slot, const SlotEntry& entry, const SlotBootFiles& files) = 0;
};

}  // namespace basalt::boot
