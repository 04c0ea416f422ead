#include "daemon/update_target.h"

#include <stdlib.h>

#include <cctype>
#include <filesystem>

#include "boot/boot_target.h"
#include "common/subprocess.h"
#include "disk/gpt_disk.h"

namespace basalt::update {
namespace {

class DiskImageTarget : public UpdateTarget {
 public:
  DiskImageTarget(std::string disk, std::unique_ptr<boot::BootControl> boot,
                  std::array<SlotPartition, 2> slots, uint64_t esp_offset, bool host)
      : disk_(std::move(disk)),
        boot_(std::move(boot)),
        slots_(slots),
        esp_offset_(esp_offset),
        host_(host) {}

  std::string Describe() const override { return disk_; }
  boot::BootControl& boot() override { return *boot_; }

  Result<boot::Slot> ActiveSlot() override {
    if (host_) {
      if (auto c = boot_->current()) return *c;
      return Fail(ErrorKind::kNotFound,
                  "cannot tell the running slot: /proc/cmdline names neither USR-A nor USR-B");
    }
    BASALT_ASSIGN_OR_RETURN(boot::BootStatus st, boot_->GetStatus());
    if (!st.next) {
      return Failf(ErrorKind::kPolicy, "{}: no slot is bootable, so there is no update source",
                   disk_);
    }
    return *st.next;
  }

  Result<SlotPartition> Partition(boot::Slot slot) override {
    return slots_[boot::SlotIndex(slot)];
  }

  Result<SlotDevice> OpenSlot(boot::Slot slot, bool writable) override {
    const SlotPartition& p = slots_[boot::SlotIndex(slot)];
    if (host_) {
      std::string uuid = p.partuuid;
      for (auto& c : uuid)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return SlotDevice{"/dev/disk/by-partuuid/" + uuid, std::nullopt};
    }
    BASALT_ASSIGN_OR_RETURN(disk::LoopDevice loop,
                            disk::LoopDevice::Attach(disk_, p.offset, p.size, !writable));
    SlotDevice d;
    d.path = loop.path();
    d.loop = std::move(loop);
    return d;
  }

  Result<uint64_t> EspFreeBytes() override {
    Command mdir{"mdir", "-i", fmt::format("{}@@{}", disk_, esp_offset_), "::/"};
    mdir.env = {{"MTOOLS_SKIP_CHECK", "1"}};
    BASALT_ASSIGN_OR_RETURN(std::string out, RunCommandOk(mdir));
    return ParseMdirFreeBytes(out);
  }

 private:
  std::string disk_;
  std::unique_ptr<boot::BootControl> boot_;
  std::array<SlotPartition, 2> slots_;
  uint64_t esp_offset_;
  bool host_;
};

Result<std::unique_ptr<UpdateTarget>> OpenTarget(const std::string& disk, bool host) {
  std::array<SlotPartition, 2> slots;
  uint64_t esp_offset = 0;
  {
    BASALT_ASSIGN_OR_RETURN(disk::GptDisk gpt, disk::GptDisk::Open(disk, false));
    for (boot::Slot s : boot::kAllSlots) {
      BASALT_ASSIGN_OR_RETURN(
          disk::GptPartition p,
          gpt.FindByLabel(s == boot::Slot::kA ? disk::kUsrALabel : disk::kUsrBLabel));
      slots[boot::SlotIndex(s)] = {s, p.uuid, p.start_bytes, p.size_bytes};
    }
    BASALT_ASSIGN_OR_RETURN(disk::GptPartition esp, gpt.FindByLabel(disk::kEspLabel));
    esp_offset = esp.start_bytes;
  }
  boot::BootTarget bt;
  if (!host) bt.disk = disk;
  BASALT_ASSIGN_OR_RETURN(std::unique_ptr<boot::BootControl> bc, boot::OpenBootControl(bt));
  return std::make_unique<DiskImageTarget>(disk, std::move(bc), slots, esp_offset, host);
}

}  // namespace

Result<uint64_t> ParseMdirFreeBytes(std::string_view out) {
  size_t at = out.find("bytes free");
  if (at == std::string_view::npos) {
    return Fail(ErrorKind::kInvalidInput, "mdir printed no \"bytes free\" line");
  }
  size_t line = out.rfind('\n', at);
  std::string_view text = out.substr(line == std::string_view::npos ? 0 : line + 1,
                                     at - (line == std::string_view::npos ? 0 : line + 1));
  uint64_t n = 0;
  bool digits = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == ',' || c == '.') continue;
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return Failf(ErrorKind::kInvalidInput, "mdir free-space line \"{}\" is not a number", text);
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
    digits = true;
  }
  if (!digits) return Fail(ErrorKind::kInvalidInput, "mdir free-space line has no number");
  return n;
}

Result<std::unique_ptr<UpdateTarget>> OpenDiskImageTarget(const std::string& disk) {
  return OpenTarget(disk, false);
}

std::vector<SlotView> SlotViews(const boot::BootStatus& status, boot::Slot current) {
  std::vector<SlotView> out;
  for (boot::Slot slot : boot::kAllSlots) {
    const boot::SlotStatus& s = status.slots[boot::SlotIndex(slot)];
    out.push_back({.slot = std::string(boot::SlotName(slot)),
                   .version = s.version,
                   .health = std::string(boot::SlotHealthName(s.health)),
                   .tries = static_cast<uint32_t>(std::max(s.attributes.tries, 0)),
                   .current = slot == current,
                   .next = status.next == slot});
  }
  return out;
}

Result<std::vector<SlotView>> ReadSlotViews(UpdateTarget& target) {
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, target.ActiveSlot());
  BASALT_ASSIGN_OR_RETURN(boot::BootStatus bs, target.boot().GetStatus());
  return SlotViews(bs, active);
}

Result<std::unique_ptr<UpdateTarget>> OpenHostTarget() {
  // The disk is the one holding USR-A: /dev/disk/by-partlabel/USR-A -> /dev/vda3, whose sysfs
  // parent is vda.
  char* part = ::realpath("/dev/disk/by-partlabel/USR-A", nullptr);
  if (part == nullptr) return FailErrno("find the USR-A partition (/dev/disk/by-partlabel/USR-A)");
  std::string name = std::filesystem::path(part).filename().string();
  ::free(part);
  char* sys = ::realpath(("/sys/class/block/" + name).c_str(), nullptr);
  if (sys == nullptr) return FailErrno("sysfs entry of " + name);
  std::string parent = std::filesystem::path(sys).parent_path().filename().string();
  ::free(sys);
  return OpenTarget("/dev/" + parent, true);
}

}  // namespace basalt::update
