// The backend registry: one row per backend (boot/backends.h). A new backend is one row here
// plus its folder under backends/.
#include "boot/backends.h"

#include <algorithm>

#include "backends/gptprio/gptprio_backend.h"
#include "backends/grub/grub_backend.h"
#include "backends/grub/grub_layout.h"
#include "backends/systemd-boot/bls_layout.h"
#include "backends/systemd-boot/sdboot_backend.h"
#include "backends/uki/uki_backend.h"
#include "backends/uki/uki_layout.h"

namespace basalt::boot {
namespace {

// Detection order: basalt-* UKIs in /EFI/Linux and basalt-* BLS entries are what systemd-boot
// boots whatever else the ESP holds, so they are asked first; then grubenv.
// gptprio's state is in the GPT, so it is what an ESP with neither is.
constexpr BootBackend kBackends[] = {
    {
        .name = "grub",
        .detect_order = 2,
        .detect = HasGrubEnv,
        .needs_esp = true,
        .open = NewGrubBootControl,
        .esp_text_files = [](const SlotEntry& a) { return GrubEspFiles(a); },
        .boot_loader = BuildGrubEfi,
    },
    {
        .name = "systemd-boot",
        .detect_order = 1,
        .detect = HasBasaltBlsEntries,
        .needs_esp = true,
        .open = NewSdBootControl,
        .esp_text_files = [](const SlotEntry& a) { return SdBootEspFiles(a); },
        .boot_loader = ReadSdBootEfi,
    },
    {
        .name = "gptprio",
        .detect_order = 0,
        .detect = nullptr,  // the fallback
        .needs_esp = false,
        .open = NewGptPrioBootControl,
        .esp_text_files = [](const SlotEntry& a) { return GptPrioEspFiles(a); },
        .boot_loader = BuildGrubEfi,  // Flatcar's GRUB reads the bits; stock GRUB boots A
    },
    {
        .name = "uki",
        .detect_order = 0,
        .detect = HasBasaltUkis,
        .needs_esp = true,
        .open = NewUkiBootControl,
        .esp_text_files = [](const SlotEntry& a) { return UkiEspFiles(a); },
        .boot_loader = ReadSdBootEfi,  // the image builder signs it
        .fresh_uki_path = kFreshUkiPathA,
    },
};

// Names are what every caller looks rows up by. (That exactly one row is the fallback is
// checked by tests/unit/boot/registry_test.cc: with UBSan, comparing a function's address with
// null is not a constant expression.)
constexpr bool NamesAreUnique() {
  for (size_t i = 0; i < std::size(kBackends); ++i) {
    for (size_t j = i + 1; j < std::size(kBackends); ++j) {
      if (kBackends[i].name == kBackends[j].name) return false;
    }
  }
  return true;
}
static_assert(NamesAreUnique(), "two backends share a name");

}  // namespace

std::unique_ptr<BootControl> BootBackend::Open(std::string disk, std::unique_ptr<EspFiles> esp,
                                               std::optional<Slot> current) const {
  return open(name, std::move(disk), std::move(esp), current);
}

std::span<const BootBackend> BootBackends() {
  return kBackends;
}

const BootBackend* FindBootBackend(std::string_view name) {
  for (const BootBackend& b : kBackends) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

const BootBackend& DefaultBootBackend() {
  return kBackends[0];
}

const BootBackend& FallbackBootBackend() {
  for (const BootBackend& b : kBackends) {
    if (b.detect == nullptr) return b;
  }
  return kBackends[std::size(kBackends) - 1];  // unreachable: the table has its fallback row
}

std::vector<std::string> BootBackendNames() {
  std::vector<std::string> names;
  for (const BootBackend& b : kBackends)
    names.emplace_back(b.name);
  return names;
}

std::string JoinBootBackendNames(std::string_view last_separator) {
  std::string out;
  for (size_t i = 0; i < std::size(kBackends); ++i) {
    if (i > 0) out += i + 1 == std::size(kBackends) ? last_separator : ", ";
    out += kBackends[i].name;
  }
  return out;
}

Result<const BootBackend*> DetectBootBackend(EspFiles& esp) {
  std::vector<const BootBackend*> asked;
  for (const BootBackend& b : kBackends) {
    if (b.detect != nullptr) asked.push_back(&b);
  }
  std::ranges::stable_sort(asked, {}, &BootBackend::detect_order);
  for (const BootBackend* b : asked) {
    BASALT_ASSIGN_OR_RETURN(bool found, b->detect(esp));
    if (found) return b;
  }
  return &FallbackBootBackend();
}

}  // namespace basalt::boot
