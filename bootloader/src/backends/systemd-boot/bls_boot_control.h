// What the systemd-boot and uki backends share: slot state is the name of each slot's Boot
// Loader Specification entry (bls_layout.h), a `.conf` file in /loader/entries (type 1) or a
// UKI in /EFI/Linux (type 2). systemd-boot orders both kinds by the same rules, so the table
// mapping and the rename sequence are the same; only what an entry holds differs.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "backends/systemd-boot/bls_layout.h"
#include "esp_files.h"
#include "table_boot_control.h"

namespace basalt::boot {

// Where a backend's entries live and how they are named.
struct BlsPlace {
  std::string_view dir;     // "/loader/entries" or "/EFI/Linux"
  std::string_view suffix;  // ".conf" or ".efi"
};

class BlsBootControl : public TableBootControl {
 public:
  BlsBootControl(std::string_view name, BlsPlace place, std::unique_ptr<EspFiles> esp,
                 std::optional<Slot> current)
      : TableBootControl(name, current), place_(place), esp_(std::move(esp)) {}

 protected:
  struct Entries {
    std::array<std::optional<BlsName>, 2> names;
  };

  Result<SlotTable> LoadTable() override;
  // Every step is one rename (see the .cc).
  Status StoreTable(const SlotTable& before, const SlotTable& after) override;

  Result<Entries> Scan();
  std::string EntryPath(const BlsName& name) const;
  // The slot's current entry name, or the name a new entry gets (priority 0, not selectable).
  Result<BlsName> InstallName(Slot slot);
  EspFiles& esp() { return *esp_; }

 private:
  Status Move(Entries& entries, Slot slot, const BlsName& to);

  BlsPlace place_;
  std::unique_ptr<EspFiles> esp_;
};

// Whether `dir` holds an entry named basalt-*<suffix>.
Result<bool> HasBasaltEntries(EspFiles& esp, BlsPlace place);

}  // namespace basalt::boot
