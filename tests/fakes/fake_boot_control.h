// A BootControl over an in-memory slot table. The verbs go through the real slot policy
// (boot/slot_policy.h), so set-next, mark-good, mark-bad, rollback and the boot-time choice
// behave as every backend's; boot entries and installed files are kept in memory. Records each
// call and can be told to fail the next call of a verb. Thread-safe (the daemon's worker calls it).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "boot/boot_control.h"

namespace basalt::fakes {

class FakeBootControl : public boot::BootControl {
 public:
  // A freshly built image: slot A good with `a_version` and its entry, slot B empty.
  explicit FakeBootControl(std::string a_version = "1.0.0");

  std::string_view backend() const override { return "fake"; }
  std::optional<boot::Slot> current() const override;

  Result<boot::BootStatus> GetStatus() override;
  Status SetNext(boot::Slot slot, int tries) override;
  Status MarkGood(boot::Slot slot) override;
  Status MarkBad(boot::Slot slot) override;
  Status Rollback() override;
  boot::BootFilesKind boot_files_kind() const override;
  // Keeps the entry and the files' contents (kernel and initramfs, or the UKI).
  Status InstallSlot(boot::Slot slot, const boot::SlotEntry& entry,
                     const boot::SlotBootFiles& files) override;

  // --- test controls ---
  void set_current(std::optional<boot::Slot> slot);
  boot::SlotTable table() const;
  void set_table(const boot::SlotTable& table);
  std::optional<boot::SlotEntry> entry(boot::Slot slot) const;
  void set_entry(boot::Slot slot, std::optional<boot::SlotEntry> entry);
  // What InstallSlot copied for `slot` ("" if nothing).
  std::string kernel(boot::Slot slot) const;
  std::string initrd(boot::Slot slot) const;
  std::string uki(boot::Slot slot) const;
  // What the backend installs (default: kernel and initramfs; kUki as the uki backend).
  void set_boot_files_kind(boot::BootFilesKind kind);
  // The next call of `verb` ("GetStatus", "SetNext", "MarkGood", "MarkBad", "Rollback",
  // "InstallSlot") fails with `error`, once, before it changes anything.
  void FailNext(const std::string& verb, Error error);
  // "MarkGood B", "SetNext B 3", "InstallSlot B 2.0.0", "Rollback", "GetStatus", in call order.
  std::vector<std::string> calls() const;
  // Calls other than GetStatus (the ones that change something).
  std::vector<std::string> changes() const;
  // What the firmware and bootloader do at power-on: pick the next slot and use one of its
  // tries (ConsumeBootAttempt); that slot runs. nullopt: nothing bootable.
  std::optional<boot::Slot> Boot();

 private:
  // Records the call; returns the error queued for `verb`, if any.
  std::optional<Error> Enter(const std::string& verb, const std::string& call);

  mutable std::mutex mu_;
  boot::SlotTable table_;
  std::array<std::optional<boot::SlotEntry>, 2> entries_;
  std::array<std::string, 2> kernels_, initrds_, ukis_;
  boot::BootFilesKind kind_ = boot::BootFilesKind::kKernelAndInitrd;
  std::optional<boot::Slot> current_;
  std::map<std::string, Error> fail_next_;
  std::vector<std::string> calls_;
};

// A boot entry for `version` in `slot`, with a made-up PARTUUID and the given usrhash.
boot::SlotEntry FakeEntry(boot::Slot slot, const std::string& version,
                          const std::string& usrhash = std::string(64, 'a'));

}  // namespace basalt::fakes
