#include "backends/systemd-boot/bls_boot_control.h"

namespace basalt::boot {

std::string BlsBootControl::EntryPath(const BlsName& name) const {
  return fmt::format("{}/{}", place_.dir, FormatBlsName(name, place_.suffix));
}

Result<BlsName> BlsBootControl::InstallName(Slot slot) {
  BASALT_ASSIGN_OR_RETURN(Entries entries, Scan());
  return entries.names[SlotIndex(slot)].value_or(
      BlsName{.priority = 0, .slot = slot, .tries_left = 0, .tries_done = 0});
}

Result<SlotTable> BlsBootControl::LoadTable() {
  BASALT_ASSIGN_OR_RETURN(Entries entries, Scan());
  SlotTable table;
  for (Slot slot : kAllSlots) {
    if (const auto& n = entries.names[SlotIndex(slot)]) {
      table[SlotIndex(slot)] = AttributesFromBlsName(*n);
    }
  }
  return table;
}

// The slot that `after` selects is renamed first, to a priority above the other slot's old one,
// so from the first rename on systemd-boot picks the new choice; the other slot is renamed next,
// and the first one gets its final priority last.
Status BlsBootControl::StoreTable(const SlotTable&, const SlotTable& after) {
  BASALT_ASSIGN_OR_RETURN(Entries entries, Scan());
  std::array<BlsName, 2> current;
  std::array<BlsName, 2> target;
  for (Slot slot : kAllSlots) {
    const auto& n = entries.names[SlotIndex(slot)];
    if (!n) {
      if (after[SlotIndex(slot)].priority == 0) continue;
      return Failf(ErrorKind::kPolicy, "slot {} has no boot entry in {}; install it first",
                   SlotName(slot), place_.dir);
    }
    current[SlotIndex(slot)] = *n;
    target[SlotIndex(slot)] = BlsNameFromAttributes(slot, after[SlotIndex(slot)], n->tries_done);
  }
  std::optional<Slot> next = SelectNext(after);
  Slot first = next.value_or(Slot::kA);
  Slot second = OtherSlot(first);
  if (next && entries.names[SlotIndex(second)]) {
    BlsName bumped = target[SlotIndex(first)];
    bumped.priority = std::max(bumped.priority, current[SlotIndex(second)].priority + 1);
    BASALT_RETURN_IF_ERROR(Move(entries, first, bumped));
  }
  BASALT_RETURN_IF_ERROR(Move(entries, second, target[SlotIndex(second)]));
  return Move(entries, first, target[SlotIndex(first)]);
}

Result<BlsBootControl::Entries> BlsBootControl::Scan() {
  BASALT_ASSIGN_OR_RETURN(std::vector<std::string> files, esp_->List(std::string(place_.dir)));
  Entries entries;
  for (const std::string& file : files) {
    BASALT_ASSIGN_OR_RETURN(std::optional<BlsName> name, ParseBlsName(file, place_.suffix));
    if (!name) continue;
    auto& slot_entry = entries.names[SlotIndex(name->slot)];
    if (slot_entry) {
      return Failf(ErrorKind::kInvalidInput, "{}: two boot entries for slot {}: {} and {}",
                   place_.dir, SlotName(name->slot), FormatBlsName(*slot_entry, place_.suffix),
                   file);
    }
    slot_entry = name;
  }
  return entries;
}

Status BlsBootControl::Move(Entries& entries, Slot slot, const BlsName& to) {
  auto& from = entries.names[SlotIndex(slot)];
  if (!from || *from == to) return {};
  BASALT_RETURN_IF_ERROR(esp_->Rename(EntryPath(*from), EntryPath(to)));
  BASALT_RETURN_IF_ERROR(esp_->Sync());
  from = to;
  return {};
}

Result<bool> HasBasaltEntries(EspFiles& esp, BlsPlace place) {
  BASALT_ASSIGN_OR_RETURN(std::vector<std::string> entries, esp.List(std::string(place.dir)));
  for (const std::string& e : entries) {
    if (e.starts_with("basalt-") && e.ends_with(place.suffix)) return true;
  }
  return false;
}

}  // namespace basalt::boot
