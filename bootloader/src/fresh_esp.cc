#include "boot/fresh_esp.h"

#include <unistd.h>

#include "backends/gptprio/gptprio_bits.h"
#include "backends/systemd-boot/bls_layout.h"
#include "common/fd.h"
#include "common/subprocess.h"

namespace basalt::boot {
namespace {

// grub-mkimage's output depends only on its arguments and the installed GRUB modules.
Result<std::string> BuildGrubEfi(const std::string& scratch_dir) {
  std::string path = scratch_dir + "/BOOTX64.EFI.grub";
  auto run = RunCommandOk(Command(GrubMkimageArgv(path)));
  Result<std::string> bytes =
      run ? ReadFileToString(path) : Result<std::string>(std::unexpected(run.error()));
  ::unlink(path.c_str());
  if (!bytes) return std::unexpected(bytes.error().WithContext("build the GRUB EFI image"));
  return bytes;
}

}  // namespace

Result<std::vector<EspTextFile>> FreshEspFiles(const FreshEspOptions& o) {
  std::vector<EspTextFile> files;
  if (o.backend == "grub") {
    BASALT_ASSIGN_OR_RETURN(files, GrubEspFiles(o.slot_a));
  } else if (o.backend == "gptprio") {
    BASALT_ASSIGN_OR_RETURN(files, GptPrioEspFiles(o.slot_a));
  } else if (o.backend == "systemd-boot") {
    BASALT_ASSIGN_OR_RETURN(files, SdBootEspFiles(o.slot_a));
    auto efi = ReadFileToString(o.sdboot_efi);
    if (!efi) {
      return std::unexpected(
          efi.error().WithContext("systemd-boot EFI binary (Debian package systemd-boot-efi)"));
    }
    files.push_back({kEfiBootPath, std::move(*efi)});
    return files;
  } else {
    return Failf(ErrorKind::kUnsupported,
                 "boot backend '{}' is not one of grub, systemd-boot, gptprio", o.backend);
  }
  BASALT_ASSIGN_OR_RETURN(std::string efi, BuildGrubEfi(o.scratch_dir));
  files.push_back({kEfiBootPath, std::move(efi)});
  return files;
}

uint64_t FreshUsrAAttributes() {
  return EncodeGptPrio(0, {.priority = 1, .tries = 0, .successful = true});
}

}  // namespace basalt::boot
