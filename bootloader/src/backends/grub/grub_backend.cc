// GRUB backend: slot state in /basalt/grubenv, consumed by the generated grub.cfg.
#include "backends.h"
#include "backends/grub/grub_layout.h"
#include "table_boot_control.h"

namespace basalt::boot {

Status InstallGrubStyleSlot(EspFiles& esp, Slot slot, const SlotEntry& entry,
                            const std::string& kernel_file, const std::string& initrd_file) {
  BASALT_ASSIGN_OR_RETURN(std::string cfg, RenderGrubSlotConfig(slot, entry));
  // Kernel and initramfs first, the entry naming them last.
  BASALT_RETURN_IF_ERROR(ReplaceFileFrom(esp, SlotKernelPath(slot), kernel_file));
  BASALT_RETURN_IF_ERROR(ReplaceFileFrom(esp, SlotInitrdPath(slot), initrd_file));
  return ReplaceFile(esp, GrubSlotConfigPath(slot), cfg);
}

Result<std::optional<SlotEntry>> ReadGrubStyleSlot(EspFiles& esp, Slot slot) {
  BASALT_ASSIGN_OR_RETURN(std::optional<std::string> text,
                          ReadRecovering(esp, GrubSlotConfigPath(slot)));
  if (!text) return std::optional<SlotEntry>();
  auto entry = ParseGrubSlotConfig(*text);
  if (!entry)
    return std::unexpected(std::move(entry).error().WithContext(GrubSlotConfigPath(slot)));
  return std::optional<SlotEntry>(std::move(*entry));
}

namespace {

class GrubBootControl final : public TableBootControl {
 public:
  GrubBootControl(std::unique_ptr<EspFiles> esp, std::optional<Slot> current)
      : TableBootControl(current), esp_(std::move(esp)) {}
  std::string_view backend() const override { return "grub"; }

  Status InstallSlot(Slot slot, const SlotEntry& entry, const std::string& kernel_file,
                     const std::string& initrd_file) override {
    return InstallGrubStyleSlot(*esp_, slot, entry, kernel_file, initrd_file);
  }

 protected:
  Result<SlotTable> LoadTable() override {
    BASALT_ASSIGN_OR_RETURN(GrubEnv env, LoadEnv());
    return LoadTableFromGrubEnv(env);
  }
  Status StoreTable(const SlotTable&, const SlotTable& after) override {
    // One grubenv replacement is the commit point of every verb.
    BASALT_ASSIGN_OR_RETURN(GrubEnv env, LoadEnv());
    StoreTableInGrubEnv(after, env);
    BASALT_ASSIGN_OR_RETURN(std::string block, SerializeGrubEnv(env));
    return ReplaceFile(*esp_, kGrubEnvPath, block);
  }
  Result<std::optional<SlotEntry>> ReadEntry(Slot slot) override {
    return ReadGrubStyleSlot(*esp_, slot);
  }

 private:
  Result<GrubEnv> LoadEnv() {
    BASALT_ASSIGN_OR_RETURN(std::optional<std::string> block, ReadRecovering(*esp_, kGrubEnvPath));
    if (!block) {
      return Failf(ErrorKind::kNotFound, "{}: no {} (is this a grub-backend image?)",
                   esp_->Describe(), kGrubEnvPath);
    }
    auto env = ParseGrubEnv(*block);
    if (!env) return std::unexpected(std::move(env).error().WithContext(kGrubEnvPath));
    return env;
  }

  std::unique_ptr<EspFiles> esp_;
};

}  // namespace

std::unique_ptr<BootControl> NewGrubBootControl(std::unique_ptr<EspFiles> esp,
                                                std::optional<Slot> current) {
  return std::make_unique<GrubBootControl>(std::move(esp), current);
}

}  // namespace basalt::boot
