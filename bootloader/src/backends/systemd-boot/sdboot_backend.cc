// systemd-boot backend: slot state is the name of each slot's BLS entry (bls_layout.h).
#include "backends/systemd-boot/sdboot_backend.h"

#include <array>

#include "backends/systemd-boot/bls_layout.h"
#include "boot/fresh_esp.h"
#include "common/fd.h"
#include "table_boot_control.h"

namespace basalt::boot {
namespace {

struct Entries {
  std::array<std::optional<BlsName>, 2> names;
};

std::string EntryPath(const BlsName& name) {
  return fmt::format("{}/{}", kBlsEntriesDir, FormatBlsName(name));
}

class SdBootControl final : public TableBootControl {
 public:
  SdBootControl(std::string_view name, std::unique_ptr<EspFiles> esp, std::optional<Slot> current)
      : TableBootControl(name, current), esp_(std::move(esp)) {}

  Status InstallSlot(Slot slot, const SlotEntry& entry, const SlotBootFiles& files) override {
    BASALT_ASSIGN_OR_RETURN(std::string text, RenderBlsEntry(slot, entry));
    BASALT_ASSIGN_OR_RETURN(Entries entries, Scan());
    BlsName name = entries.names[SlotIndex(slot)].value_or(
        BlsName{.priority = 0, .slot = slot, .tries_left = 0, .tries_done = 0});
    BASALT_RETURN_IF_ERROR(ReplaceFileFrom(*esp_, SlotKernelPath(slot), files.kernel));
    BASALT_RETURN_IF_ERROR(ReplaceFileFrom(*esp_, SlotInitrdPath(slot), files.initrd));
    return ReplaceFile(*esp_, EntryPath(name), text);
  }

 protected:
  Result<SlotTable> LoadTable() override {
    BASALT_ASSIGN_OR_RETURN(Entries entries, Scan());
    SlotTable table;
    for (Slot slot : kAllSlots) {
      if (const auto& n = entries.names[SlotIndex(slot)]) {
        table[SlotIndex(slot)] = AttributesFromBlsName(*n);
      }
    }
    return table;
  }

  // Every step is one rename. The slot that `after` selects is renamed first, to a priority
  // above the other slot's old one, so from the first rename on systemd-boot picks the new
  // choice; the other slot is renamed next, and the first one gets its final priority last.
  Status StoreTable(const SlotTable&, const SlotTable& after) override {
    BASALT_ASSIGN_OR_RETURN(Entries entries, Scan());
    std::array<BlsName, 2> current;
    std::array<BlsName, 2> target;
    for (Slot slot : kAllSlots) {
      const auto& n = entries.names[SlotIndex(slot)];
      if (!n) {
        if (after[SlotIndex(slot)].priority == 0) continue;
        return Failf(ErrorKind::kPolicy, "slot {} has no boot entry in {}; install it first",
                     SlotName(slot), kBlsEntriesDir);
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

  Result<std::optional<SlotEntry>> ReadEntry(Slot slot) override {
    BASALT_ASSIGN_OR_RETURN(Entries entries, Scan());
    const auto& n = entries.names[SlotIndex(slot)];
    if (!n) return std::optional<SlotEntry>();
    BASALT_ASSIGN_OR_RETURN(std::optional<std::string> text, esp_->Read(EntryPath(*n)));
    if (!text) return std::optional<SlotEntry>();
    auto entry = ParseBlsEntry(*text);
    if (!entry) return std::unexpected(std::move(entry).error().WithContext(EntryPath(*n)));
    return std::optional<SlotEntry>(std::move(*entry));
  }

 private:
  Result<Entries> Scan() {
    BASALT_ASSIGN_OR_RETURN(std::vector<std::string> files, esp_->List(kBlsEntriesDir));
    Entries entries;
    for (const std::string& file : files) {
      BASALT_ASSIGN_OR_RETURN(std::optional<BlsName> name, ParseBlsName(file));
      if (!name) continue;
      auto& slot_entry = entries.names[SlotIndex(name->slot)];
      if (slot_entry) {
        return Failf(ErrorKind::kInvalidInput, "{}: two boot entries for slot {}: {} and {}",
                     kBlsEntriesDir, SlotName(name->slot), FormatBlsName(*slot_entry), file);
      }
      slot_entry = name;
    }
    return entries;
  }

  Status Move(Entries& entries, Slot slot, const BlsName& to) {
    auto& from = entries.names[SlotIndex(slot)];
    if (!from || *from == to) return {};
    BASALT_RETURN_IF_ERROR(esp_->Rename(EntryPath(*from), EntryPath(to)));
    BASALT_RETURN_IF_ERROR(esp_->Sync());
    from = to;
    return {};
  }

  std::unique_ptr<EspFiles> esp_;
};

}  // namespace

std::unique_ptr<BootControl> NewSdBootControl(std::string_view name, std::string /*disk*/,
                                              std::unique_ptr<EspFiles> esp,
                                              std::optional<Slot> current) {
  return std::make_unique<SdBootControl>(name, std::move(esp), current);
}

Result<bool> HasBasaltBlsEntries(EspFiles& esp) {
  BASALT_ASSIGN_OR_RETURN(std::vector<std::string> entries, esp.List(kBlsEntriesDir));
  for (const std::string& e : entries) {
    if (e.starts_with("basalt-") && e.ends_with(".conf")) return true;
  }
  return false;
}

Result<std::string> ReadSdBootEfi(const FreshEspOptions& options) {
  auto efi = ReadFileToString(options.sdboot_efi);
  if (!efi) {
    return std::unexpected(
        efi.error().WithContext("systemd-boot EFI binary (Debian package systemd-boot-efi)"));
  }
  return efi;
}

}  // namespace basalt::boot
