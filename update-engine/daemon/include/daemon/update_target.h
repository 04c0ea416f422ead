// What the update flow writes to: the two USR slots, the boot control over the ESP, and the
// ESP's free space. DiskImageTarget is an offline disk image (or a whole-disk device) — the
// pipelines' pre-staging and the tests; the running host's target joins it with the daemon.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "boot/boot_control.h"
#include "common/error.h"
#include "disk/loop_device.h"

namespace basalt::update {

// A slot partition as a block device path; keeps a loop device attached while it lives.
struct SlotDevice {
  std::string path;
  std::optional<disk::LoopDevice> loop;
};

struct SlotPartition {
  boot::Slot slot = boot::Slot::kA;
  std::string partuuid;  // upper case, as libfdisk reports it
  uint64_t offset = 0;   // byte offset in the disk
  uint64_t size = 0;
};

class UpdateTarget {
 public:
  virtual ~UpdateTarget() = default;
  virtual std::string Describe() const = 0;
  virtual boot::BootControl& boot() = 0;
  // The slot the machine runs (host) or boots next (offline image): the update's source, which
  // is never written.
  virtual Result<boot::Slot> ActiveSlot() = 0;
  virtual Result<SlotPartition> Partition(boot::Slot slot) = 0;
  virtual Result<SlotDevice> OpenSlot(boot::Slot slot, bool writable) = 0;
  virtual Result<uint64_t> EspFreeBytes() = 0;
};

// An offline disk image: partitions found by label in the GPT (libfdisk), slots written through
// loop devices over their byte ranges, the ESP read and written with mtools.
Result<std::unique_ptr<UpdateTarget>> OpenDiskImageTarget(const std::string& disk);

// The running host: the disk holding USR-A (/dev/disk/by-partlabel), slots through their
// /dev/disk/by-partuuid devices, the running slot from /proc/cmdline.
Result<std::unique_ptr<UpdateTarget>> OpenHostTarget();

// One slot as `basalt update status` shows it (like `rauc status`): what it holds, how the
// bootloader judges it, and whether it is the current and the next boot.
struct SlotView {
  std::string slot;      // "A" / "B"
  std::string version;   // "" when the slot has no boot entry
  std::string health;    // "good", "pending" (tries left, not yet blessed), "bad"
  uint32_t tries = 0;    // boot attempts left before the bootloader gives up on it
  bool current = false;  // running (host), or booted next (disk image: UpdateTarget::ActiveSlot)
  bool next = false;     // the bootloader's choice for the next boot
  bool operator==(const SlotView&) const = default;
};
std::vector<SlotView> SlotViews(const boot::BootStatus& status, boot::Slot current);
// Both slots of `target`, read now.
Result<std::vector<SlotView>> ReadSlotViews(UpdateTarget& target);

// "   66 058 752 bytes free" from mtools' mdir: the number, spaces removed.
Result<uint64_t> ParseMdirFreeBytes(std::string_view mdir_output);

}  // namespace basalt::update
