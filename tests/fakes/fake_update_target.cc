#include "fakes/fake_update_target.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace basalt::fakes {

using boot::Slot;

FakeUpdateTarget::FakeUpdateTarget(std::string dir, uint64_t slot_size, std::string a_version)
    : dir_(std::move(dir)), slot_size_(slot_size), boot_(std::move(a_version)) {
  std::filesystem::create_directories(dir_);
  for (Slot s : boot::kAllSlots) {
    std::string path = SlotPath(s);
    std::ofstream(path, std::ios::binary).close();
    if (::truncate(path.c_str(), static_cast<off_t>(slot_size_)) != 0) {
      throw std::runtime_error("truncate " + path + " failed");
    }
  }
  boot_.set_current(Slot::kA);
}

std::optional<Error> FakeUpdateTarget::Enter(const std::string& verb) {
  std::lock_guard lock(mu_);
  auto it = fail_next_.find(verb);
  if (it == fail_next_.end()) return std::nullopt;
  Error e = it->second;
  fail_next_.erase(it);
  return e;
}

std::string FakeUpdateTarget::SlotPath(Slot slot) const {
  return fmt::format("{}/slot-{}.img", dir_, boot::SlotName(slot));
}

Result<Slot> FakeUpdateTarget::ActiveSlot() {
  if (auto e = Enter("ActiveSlot")) return std::unexpected(*e);
  if (auto c = boot_.current()) return *c;
  return Fail(ErrorKind::kNotFound, "cannot tell the running slot: no slot runs");
}

Result<update::SlotPartition> FakeUpdateTarget::Partition(Slot slot) {
  if (auto e = Enter("Partition")) return std::unexpected(*e);
  update::SlotPartition p;
  p.slot = slot;
  p.partuuid = FakeEntry(slot, "").usr_partuuid;
  p.offset = 0;
  p.size = slot_size_;
  return p;
}

Result<update::SlotDevice> FakeUpdateTarget::OpenSlot(Slot slot, bool writable) {
  if (auto e = Enter("OpenSlot")) return std::unexpected(*e);
  {
    std::lock_guard lock(mu_);
    opens_.push_back(fmt::format("OpenSlot {} {}", boot::SlotName(slot), writable ? "rw" : "ro"));
  }
  return update::SlotDevice{SlotPath(slot), std::nullopt};
}

Result<uint64_t> FakeUpdateTarget::EspFreeBytes() {
  if (auto e = Enter("EspFreeBytes")) return std::unexpected(*e);
  std::lock_guard lock(mu_);
  return esp_free_;
}

void FakeUpdateTarget::set_esp_free_bytes(uint64_t n) {
  std::lock_guard lock(mu_);
  esp_free_ = n;
}

void FakeUpdateTarget::FailNext(const std::string& verb, Error error) {
  std::lock_guard lock(mu_);
  fail_next_.insert_or_assign(verb, std::move(error));
}

std::vector<std::string> FakeUpdateTarget::opens() const {
  std::lock_guard lock(mu_);
  return opens_;
}

}  // namespace basalt::fakes
