#include "table_boot_control.h"

#include <functional>

namespace basalt::boot {

Result<BootStatus> TableBootControl::GetStatus() {
  BASALT_ASSIGN_OR_RETURN(SlotTable table, LoadTable());
  BootStatus status;
  status.backend = std::string(backend());
  status.current = current_;
  status.next = SelectNext(table);
  for (Slot slot : kAllSlots) {
    SlotStatus& s = status.slots[SlotIndex(slot)];
    s.attributes = table[SlotIndex(slot)];
    s.health = HealthOf(s.attributes);
    BASALT_ASSIGN_OR_RETURN(std::optional<SlotEntry> entry, ReadEntry(slot));
    if (entry) {
      s.version = entry->version;
      s.usrhash = entry->usrhash;
    }
  }
  return status;
}

Status TableBootControl::Update(const std::function<Result<SlotTable>(const SlotTable&)>& rule) {
  BASALT_ASSIGN_OR_RETURN(SlotTable before, LoadTable());
  BASALT_ASSIGN_OR_RETURN(SlotTable after, rule(before));
  if (after == before) return {};
  return StoreTable(before, after);
}

Status TableBootControl::SetNext(Slot slot, int tries) {
  BASALT_ASSIGN_OR_RETURN(std::optional<SlotEntry> entry, ReadEntry(slot));
  if (!entry && EntryRequiredForSetNext()) {
    return Failf(ErrorKind::kPolicy, "slot {} has no boot entry on the ESP; install it first",
                 SlotName(slot));
  }
  return Update([&](const SlotTable& t) { return ApplySetNext(t, slot, tries); });
}

Status TableBootControl::MarkGood(Slot slot) {
  return Update([&](const SlotTable& t) { return ApplyMarkGood(t, slot); });
}

Status TableBootControl::MarkBad(Slot slot) {
  return Update([&](const SlotTable& t) { return ApplyMarkBad(t, slot); });
}

Status TableBootControl::Rollback() {
  return Update([&](const SlotTable& t) -> Result<SlotTable> {
    std::optional<Slot> from = current_ ? current_ : SelectNext(t);
    if (!from) return Fail(ErrorKind::kPolicy, "no slot is bootable; nothing to roll back from");
    return ApplyRollback(t, *from);
  });
}

}  // namespace basalt::boot
