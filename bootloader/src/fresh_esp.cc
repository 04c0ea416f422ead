#include "boot/fresh_esp.h"

#include "backends/gptprio/gptprio_bits.h"
#include "backends/grub/grub_layout.h"

namespace basalt::boot {

Result<std::vector<EspTextFile>> FreshEspFiles(const FreshEspOptions& o) {
  const BootBackend* backend = FindBootBackend(o.backend);
  if (backend == nullptr) {
    return Failf(ErrorKind::kUnsupported, "boot backend '{}' is not one of {}", o.backend,
                 JoinBootBackendNames(", "));
  }
  BASALT_ASSIGN_OR_RETURN(std::vector<EspTextFile> files, backend->esp_text_files(o.slot_a));
  BASALT_ASSIGN_OR_RETURN(std::string loader, backend->boot_loader(o));
  files.push_back({kEfiBootPath, std::move(loader)});
  return files;
}

uint64_t FreshUsrAAttributes() {
  return EncodeGptPrio(0, {.priority = 1, .tries = 0, .successful = true});
}

}  // namespace basalt::boot
