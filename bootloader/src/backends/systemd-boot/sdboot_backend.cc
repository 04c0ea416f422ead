// systemd-boot backend: slot state is the name of each slot's BLS entry (bls_layout.h).
#include "backends/systemd-boot/sdboot_backend.h"

#include "backends/systemd-boot/bls_boot_control.h"
#include "backends/systemd-boot/bls_layout.h"
#include "boot/fresh_esp.h"
#include "common/fd.h"

namespace basalt::boot {
namespace {

constexpr BlsPlace kSdBootPlace{kBlsEntriesDir, ".conf"};

class SdBootControl final : public BlsBootControl {
 public:
  SdBootControl(std::string_view name, std::unique_ptr<EspFiles> esp, std::optional<Slot> current)
      : BlsBootControl(name, kSdBootPlace, std::move(esp), current) {}

  Status InstallSlot(Slot slot, const SlotEntry& entry, const SlotBootFiles& files) override {
    BASALT_ASSIGN_OR_RETURN(std::string text, RenderBlsEntry(slot, entry));
    BASALT_ASSIGN_OR_RETURN(BlsName name, InstallName(slot));
    BASALT_RETURN_IF_ERROR(ReplaceFileFrom(esp(), SlotKernelPath(slot), files.kernel));
    BASALT_RETURN_IF_ERROR(ReplaceFileFrom(esp(), SlotInitrdPath(slot), files.initrd));
    return ReplaceFile(esp(), EntryPath(name), text);
  }

 protected:
  Result<std::optional<SlotEntry>> ReadEntry(Slot slot) override {
    BASALT_ASSIGN_OR_RETURN(Entries entries, Scan());
    const auto& n = entries.names[SlotIndex(slot)];
    if (!n) return std::optional<SlotEntry>();
    BASALT_ASSIGN_OR_RETURN(std::optional<std::string> text, esp().Read(EntryPath(*n)));
    if (!text) return std::optional<SlotEntry>();
    auto entry = ParseBlsEntry(*text);
    if (!entry) return std::unexpected(std::move(entry).error().WithContext(EntryPath(*n)));
    return std::optional<SlotEntry>(std::move(*entry));
  }
};

}  // namespace

std::unique_ptr<BootControl> NewSdBootControl(std::string_view name, std::string /*disk*/,
                                              std::unique_ptr<EspFiles> esp,
                                              std::optional<Slot> current) {
  return std::make_unique<SdBootControl>(name, std::move(esp), current);
}

Result<bool> HasBasaltBlsEntries(EspFiles& esp) {
  return HasBasaltEntries(esp, kSdBootPlace);
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
