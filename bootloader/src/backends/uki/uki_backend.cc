// uki backend: slot state is the name of each slot's UKI in /EFI/Linux (uki_layout.h), with
// the systemd-boot backend's table mapping and renames (bls_boot_control.h).
#include "backends/uki/uki_backend.h"

#include "backends/systemd-boot/bls_boot_control.h"
#include "backends/uki/uki_layout.h"
#include "common/fd.h"

namespace basalt::boot {
namespace {

constexpr BlsPlace kUkiPlace{kUkiDir, kUkiSuffix};

// The largest UKI read back for status: a kernel and initramfs with room to spare.
constexpr uint64_t kMaxUkiBytes = 512ull << 20;

class UkiBootControl final : public BlsBootControl {
 public:
  UkiBootControl(std::string_view name, std::unique_ptr<EspFiles> esp, std::optional<Slot> current)
      : BlsBootControl(name, kUkiPlace, std::move(esp), current) {}

  BootFilesKind boot_files_kind() const override { return BootFilesKind::kUki; }

  // The UKI must boot exactly `entry`: its signed command line names the slot's partition and
  // root hash, so a UKI built for the other slot or another release is refused here rather
  // than failing at boot.
  Status InstallSlot(Slot slot, const SlotEntry& entry, const SlotBootFiles& files) override {
    if (files.uki.empty()) {
      return Failf(ErrorKind::kPolicy, "{}: slot {} boots a UKI, and none was given", backend(),
                   SlotName(slot));
    }
    BASALT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(files.uki));
    auto in_uki = ParseUkiEntry(bytes);
    if (!in_uki) return std::unexpected(std::move(in_uki).error().WithContext(files.uki));
    auto differs = [&](std::string_view what, std::string_view uki, std::string_view want) {
      return Failf(ErrorKind::kPolicy, "{}: the UKI for slot {} names {} {}, the slot needs {}",
                   files.uki, SlotName(slot), what, uki, want);
    };
    if (!EqualsIgnoringCase(in_uki->usr_partuuid, entry.usr_partuuid)) {
      return differs("USR partition", in_uki->usr_partuuid, entry.usr_partuuid);
    }
    if (in_uki->usrhash != entry.usrhash) {
      return differs("root hash", in_uki->usrhash, entry.usrhash);
    }
    if (in_uki->version != entry.version) {
      return differs("version", in_uki->version, entry.version);
    }
    BASALT_ASSIGN_OR_RETURN(BlsName name, InstallName(slot));
    return ReplaceFileFrom(esp(), EntryPath(name), files.uki);
  }

 protected:
  Result<std::optional<SlotEntry>> ReadEntry(Slot slot) override {
    BASALT_ASSIGN_OR_RETURN(Entries entries, Scan());
    const auto& n = entries.names[SlotIndex(slot)];
    if (!n) return std::optional<SlotEntry>();
    BASALT_ASSIGN_OR_RETURN(std::optional<std::string> bytes, esp().Read(EntryPath(*n)));
    if (!bytes) return std::optional<SlotEntry>();
    if (bytes->size() > kMaxUkiBytes) {
      return Failf(ErrorKind::kInvalidInput, "{}: {} bytes, more than a UKI may have",
                   EntryPath(*n), bytes->size());
    }
    auto entry = ParseUkiEntry(*bytes);
    if (!entry) return std::unexpected(std::move(entry).error().WithContext(EntryPath(*n)));
    return std::optional<SlotEntry>(std::move(*entry));
  }

 private:
  static bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i]))) {
        return false;
      }
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<BootControl> NewUkiBootControl(std::string_view name, std::string /*disk*/,
                                               std::unique_ptr<EspFiles> esp,
                                               std::optional<Slot> current) {
  return std::make_unique<UkiBootControl>(name, std::move(esp), current);
}

Result<bool> HasBasaltUkis(EspFiles& esp) {
  return HasBasaltEntries(esp, kUkiPlace);
}

}  // namespace basalt::boot
