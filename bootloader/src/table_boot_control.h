// Shared implementation of the verbs over a backend's SlotTable: load, apply the pure rule from
// slot_policy.h, store. Backends supply only the mapping to their on-disk state.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "boot/boot_control.h"

namespace basalt::boot {

class TableBootControl : public BootControl {
 public:
  // `backend` is the registry's name for it (boot/backends.h).
  TableBootControl(std::string_view backend, std::optional<Slot> current)
      : backend_(backend), current_(current) {}
  std::string_view backend() const override { return backend_; }
  std::optional<Slot> current() const override { return current_; }

  Result<BootStatus> GetStatus() override;
  Status SetNext(Slot slot, int tries) override;
  Status MarkGood(Slot slot) override;
  Status MarkBad(Slot slot) override;
  Status Rollback() override;

 protected:
  virtual Result<SlotTable> LoadTable() = 0;
  // `before` is what LoadTable returned, so a backend can order its writes.
  virtual Status StoreTable(const SlotTable& before, const SlotTable& after) = 0;
  // nullopt when the slot has no boot entry yet.
  virtual Result<std::optional<SlotEntry>> ReadEntry(Slot slot) = 0;
  // GRUB and systemd-boot cannot boot a slot without its entry; gptprio's bits stand alone.
  virtual bool EntryRequiredForSetNext() const { return true; }

 private:
  Status Update(const std::function<Result<SlotTable>(const SlotTable&)>& rule);
  std::string backend_;
  std::optional<Slot> current_;
};

}  // namespace basalt::boot
