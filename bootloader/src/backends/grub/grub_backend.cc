// GRUB backend: slot state in /basalt/grubenv, consumed by the generated grub.cfg.
#include "backends/grub/grub_backend.h"

#include <unistd.h>

#include "backends/grub/grub_layout.h"
#include "boot/fresh_esp.h"
#include "common/fd.h"
#include "common/subprocess.h"
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
  GrubBootControl(std::string_view name, std::unique_ptr<EspFiles> esp, std::optional<Slot> current)
      : TableBootControl(name, current), esp_(std::move(esp)) {}

  Status InstallSlot(Slot slot, const SlotEntry& entry, const SlotBootFiles& files) override {
    return InstallGrubStyleSlot(*esp_, slot, entry, files.kernel, files.initrd);
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
      return Failf(ErrorKind::kNotFound, "{}: no {} (is this a {}-backend image?)",
                   esp_->Describe(), kGrubEnvPath, backend());
    }
    auto env = ParseGrubEnv(*block);
    if (!env) return std::unexpected(std::move(env).error().WithContext(kGrubEnvPath));
    return env;
  }

  std::unique_ptr<EspFiles> esp_;
};

}  // namespace

std::unique_ptr<BootControl> NewGrubBootControl(std::string_view name, std::string /*disk*/,
                                                std::unique_ptr<EspFiles> esp,
                                                std::optional<Slot> current) {
  return std::make_unique<GrubBootControl>(name, std::move(esp), current);
}

Result<bool> HasGrubEnv(EspFiles& esp) {
  BASALT_ASSIGN_OR_RETURN(std::optional<std::string> env, ReadRecovering(esp, kGrubEnvPath));
  return env.has_value();
}

// grub-mkimage's output depends only on its arguments and the installed GRUB modules.
Result<std::string> BuildGrubEfi(const FreshEspOptions& options) {
  std::string path = options.scratch_dir + "/BOOTX64.EFI.grub";
  auto run = RunCommandOk(Command(GrubMkimageArgv(path)));
  Result<std::string> bytes =
      run ? ReadFileToString(path) : Result<std::string>(std::unexpected(run.error()));
  ::unlink(path.c_str());
  if (!bytes) return std::unexpected(bytes.error().WithContext("build the GRUB EFI image"));
  return bytes;
}

}  // namespace basalt::boot
