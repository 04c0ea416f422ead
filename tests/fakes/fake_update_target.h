// An UpdateTarget for unit tests: a FakeBootControl, the running slot, and the two USR slots as
// files in a directory (written by the real payload applier, read by the real erofs reader).
// Host semantics: the active slot is the one that runs (FakeBootControl::current), and Reboot()
// lets the boot policy pick the next one. Records slot opens; can be told to fail the next call.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/update_target.h"
#include "fakes/fake_boot_control.h"

namespace basalt::fakes {

class FakeUpdateTarget : public update::UpdateTarget {
 public:
  // Creates dir/slot-A.img and dir/slot-B.img, `slot_size` bytes each (sparse); slot A runs.
  explicit FakeUpdateTarget(std::string dir, uint64_t slot_size = 64 << 20,
                            std::string a_version = "1.0.0");

  std::string Describe() const override { return "fake:" + dir_; }
  boot::BootControl& boot() override { return boot_; }
  // The running slot; kNotFound when none runs (as the host target without a usr= argument).
  Result<boot::Slot> ActiveSlot() override;
  Result<update::SlotPartition> Partition(boot::Slot slot) override;
  // The slot's file; no loop device.
  Result<update::SlotDevice> OpenSlot(boot::Slot slot, bool writable) override;
  Result<uint64_t> EspFreeBytes() override;

  // --- test controls ---
  FakeBootControl& fake_boot() { return boot_; }
  std::string SlotPath(boot::Slot slot) const;
  void set_esp_free_bytes(uint64_t n);
  // The next call of `verb` ("ActiveSlot", "Partition", "OpenSlot", "EspFreeBytes") fails with
  // `error`, once.
  void FailNext(const std::string& verb, Error error);
  // "OpenSlot B rw", "OpenSlot A ro", in call order.
  std::vector<std::string> opens() const;
  // A reboot: the bootloader picks the next slot (using one of its tries) and it runs.
  std::optional<boot::Slot> Reboot() { return boot_.Boot(); }

 private:
  std::optional<Error> Enter(const std::string& verb);

  std::string dir_;
  uint64_t slot_size_;
  FakeBootControl boot_;
  mutable std::mutex mu_;
  uint64_t esp_free_ = 256ull << 20;
  std::map<std::string, Error> fail_next_;
  std::vector<std::string> opens_;
};

}  // namespace basalt::fakes
