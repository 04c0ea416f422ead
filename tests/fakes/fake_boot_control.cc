#include "fakes/fake_boot_control.h"

#include <fmt/format.h>

#include "common/fd.h"

namespace basalt::fakes {

using boot::Slot;
using boot::SlotIndex;
using boot::SlotName;

boot::SlotEntry FakeEntry(Slot slot, const std::string& version, const std::string& usrhash) {
  boot::SlotEntry e;
  e.version = version;
  e.usr_partuuid = slot == Slot::kA ? "7130C94A-213A-4E5A-8E26-6CCE9662F132"
                                    : "E03DD35C-7C2D-4A47-B3FE-27F15780A57C";
  e.usrhash = usrhash;
  return e;
}

FakeBootControl::FakeBootControl(std::string a_version) {
  table_[SlotIndex(Slot::kA)] = boot::SlotAttributes{.priority = 1, .tries = 0, .successful = true};
  entries_[SlotIndex(Slot::kA)] = FakeEntry(Slot::kA, a_version);
}

std::optional<Error> FakeBootControl::Enter(const std::string& verb, const std::string& call) {
  calls_.push_back(call);
  auto it = fail_next_.find(verb);
  if (it == fail_next_.end()) return std::nullopt;
  Error e = it->second;
  fail_next_.erase(it);
  return e;
}

std::optional<Slot> FakeBootControl::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

Result<boot::BootStatus> FakeBootControl::GetStatus() {
  std::lock_guard lock(mu_);
  if (auto e = Enter("GetStatus", "GetStatus")) return std::unexpected(*e);
  boot::BootStatus st;
  st.backend = "fake";
  st.current = current_;
  st.next = boot::SelectNext(table_);
  for (Slot slot : boot::kAllSlots) {
    boot::SlotStatus& s = st.slots[SlotIndex(slot)];
    s.attributes = table_[SlotIndex(slot)];
    s.health = boot::HealthOf(s.attributes);
    if (const auto& e = entries_[SlotIndex(slot)]) {
      s.version = e->version;
      s.usrhash = e->usrhash;
    }
  }
  return st;
}

Status FakeBootControl::SetNext(Slot slot, int tries) {
  std::lock_guard lock(mu_);
  if (auto e = Enter("SetNext", fmt::format("SetNext {} {}", SlotName(slot), tries))) {
    return std::unexpected(*e);
  }
  // As GRUB and systemd-boot: a slot without an entry cannot boot.
  if (!entries_[SlotIndex(slot)]) {
    return Failf(ErrorKind::kPolicy, "slot {} has no boot entry on the ESP; install it first",
                 SlotName(slot));
  }
  BASALT_ASSIGN_OR_RETURN(table_, boot::ApplySetNext(table_, slot, tries));
  return {};
}

Status FakeBootControl::MarkGood(Slot slot) {
  std::lock_guard lock(mu_);
  if (auto e = Enter("MarkGood", fmt::format("MarkGood {}", SlotName(slot)))) {
    return std::unexpected(*e);
  }
  BASALT_ASSIGN_OR_RETURN(table_, boot::ApplyMarkGood(table_, slot));
  return {};
}

Status FakeBootControl::MarkBad(Slot slot) {
  std::lock_guard lock(mu_);
  if (auto e = Enter("MarkBad", fmt::format("MarkBad {}", SlotName(slot)))) {
    return std::unexpected(*e);
  }
  BASALT_ASSIGN_OR_RETURN(table_, boot::ApplyMarkBad(table_, slot));
  return {};
}

Status FakeBootControl::Rollback() {
  std::lock_guard lock(mu_);
  if (auto e = Enter("Rollback", "Rollback")) return std::unexpected(*e);
  std::optional<Slot> from = current_ ? current_ : boot::SelectNext(table_);
  if (!from) return Fail(ErrorKind::kPolicy, "no slot is bootable; nothing to roll back from");
  BASALT_ASSIGN_OR_RETURN(table_, boot::ApplyRollback(table_, *from));
  return {};
}

Status FakeBootControl::InstallSlot(Slot slot, const boot::SlotEntry& entry,
                                    const boot::SlotBootFiles& files) {
  std::lock_guard lock(mu_);
  if (auto e =
          Enter("InstallSlot", fmt::format("InstallSlot {} {}", SlotName(slot), entry.version))) {
    return std::unexpected(*e);
  }
  BASALT_RETURN_IF_ERROR(boot::ValidateSlotEntry(entry));
  if (kind_ == boot::BootFilesKind::kUki) {
    BASALT_ASSIGN_OR_RETURN(ukis_[SlotIndex(slot)], ReadFileToString(files.uki));
  } else {
    BASALT_ASSIGN_OR_RETURN(kernels_[SlotIndex(slot)], ReadFileToString(files.kernel));
    BASALT_ASSIGN_OR_RETURN(initrds_[SlotIndex(slot)], ReadFileToString(files.initrd));
  }
  entries_[SlotIndex(slot)] = entry;
  return {};
}

void FakeBootControl::set_current(std::optional<Slot> slot) {
  std::lock_guard lock(mu_);
  current_ = slot;
}

boot::SlotTable FakeBootControl::table() const {
  std::lock_guard lock(mu_);
  return table_;
}

void FakeBootControl::set_table(const boot::SlotTable& table) {
  std::lock_guard lock(mu_);
  table_ = table;
}

std::optional<boot::SlotEntry> FakeBootControl::entry(Slot slot) const {
  std::lock_guard lock(mu_);
  return entries_[SlotIndex(slot)];
}

void FakeBootControl::set_entry(Slot slot, std::optional<boot::SlotEntry> entry) {
  std::lock_guard lock(mu_);
  entries_[SlotIndex(slot)] = std::move(entry);
}

std::string FakeBootControl::kernel(Slot slot) const {
  std::lock_guard lock(mu_);
  return kernels_[SlotIndex(slot)];
}

boot::BootFilesKind FakeBootControl::boot_files_kind() const {
  std::lock_guard lock(mu_);
  return kind_;
}

void FakeBootControl::set_boot_files_kind(boot::BootFilesKind kind) {
  std::lock_guard lock(mu_);
  kind_ = kind;
}

std::string FakeBootControl::uki(Slot slot) const {
  std::lock_guard lock(mu_);
  return ukis_[SlotIndex(slot)];
}

std::string FakeBootControl::initrd(Slot slot) const {
  std::lock_guard lock(mu_);
  return initrds_[SlotIndex(slot)];
}

void FakeBootControl::FailNext(const std::string& verb, Error error) {
  std::lock_guard lock(mu_);
  fail_next_.insert_or_assign(verb, std::move(error));
}

std::vector<std::string> FakeBootControl::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

std::vector<std::string> FakeBootControl::changes() const {
  std::vector<std::string> out;
  for (auto& c : calls()) {
    if (c != "GetStatus") out.push_back(c);
  }
  return out;
}

std::optional<Slot> FakeBootControl::Boot() {
  std::lock_guard lock(mu_);
  current_ = boot::ConsumeBootAttempt(table_);
  return current_;
}

}  // namespace basalt::fakes
