// gptprio backend: slot state in the GPT attribute bits of USR-A/USR-B, written with libfdisk.
#include "backends/gptprio/gptprio_backend.h"

#include "backends/gptprio/gptprio_bits.h"
#include "backends/grub/grub_backend.h"
#include "disk/gpt_disk.h"
#include "table_boot_control.h"

namespace basalt::boot {
namespace {

std::string_view UsrLabel(Slot slot) {
  return slot == Slot::kA ? disk::kUsrALabel : disk::kUsrBLabel;
}

class GptPrioBootControl final : public TableBootControl {
 public:
  GptPrioBootControl(std::string_view name, std::string disk, std::unique_ptr<EspFiles> esp,
                     std::optional<Slot> current)
      : TableBootControl(name, current), disk_(std::move(disk)), esp_(std::move(esp)) {}

  Status InstallSlot(Slot slot, const SlotEntry& entry, const SlotBootFiles& files) override {
    if (!esp_) return Failf(ErrorKind::kNotFound, "{}: no ESP to install the slot on", backend());
    return InstallGrubStyleSlot(*esp_, slot, entry, files.kernel, files.initrd);
  }

 protected:
  Result<SlotTable> LoadTable() override {
    BASALT_ASSIGN_OR_RETURN(disk::GptDisk disk, disk::GptDisk::Open(disk_, false));
    SlotTable table;
    for (Slot slot : kAllSlots) {
      BASALT_ASSIGN_OR_RETURN(disk::GptPartition p, disk.FindByLabel(UsrLabel(slot)));
      table[SlotIndex(slot)] = DecodeGptPrio(p.attributes);
    }
    return table;
  }
  // Both slots' bits change in one GPT write: the primary header and array, then the backup
  // (libfdisk), each covered by its CRC, so firmware sees the old table or the new one.
  Status StoreTable(const SlotTable&, const SlotTable& after) override {
    BASALT_ASSIGN_OR_RETURN(disk::GptDisk disk, disk::GptDisk::Open(disk_, true));
    for (Slot slot : kAllSlots) {
      BASALT_ASSIGN_OR_RETURN(disk::GptPartition p, disk.FindByLabel(UsrLabel(slot)));
      BASALT_RETURN_IF_ERROR(
          disk.SetAttributes(p.number, EncodeGptPrio(p.attributes, after[SlotIndex(slot)])));
    }
    return disk.Commit();
  }
  Result<std::optional<SlotEntry>> ReadEntry(Slot slot) override {
    if (!esp_) return std::optional<SlotEntry>();
    return ReadGrubStyleSlot(*esp_, slot);
  }
  bool EntryRequiredForSetNext() const override { return false; }

 private:
  std::string disk_;
  std::unique_ptr<EspFiles> esp_;
};

}  // namespace

std::unique_ptr<BootControl> NewGptPrioBootControl(std::string_view name, std::string disk,
                                                   std::unique_ptr<EspFiles> esp,
                                                   std::optional<Slot> current) {
  return std::make_unique<GptPrioBootControl>(name, std::move(disk), std::move(esp), current);
}

}  // namespace basalt::boot
