#include "backends/uki/uki_layout.h"

#include <array>

#include "backends/systemd-boot/bls_layout.h"
#include "common/line_reader.h"
#include "common/pe_sections.h"

namespace basalt::boot {
namespace {

// Section text as systemd-stub uses it: up to the first NUL, without trailing line ends.
std::string_view SectionText(std::string_view bytes) {
  bytes = bytes.substr(0, bytes.find('\0'));
  while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r' || bytes.back() == ' ')) {
    bytes.remove_suffix(1);
  }
  return bytes;
}

std::string_view Unquote(std::string_view v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    return v.substr(1, v.size() - 2);
  }
  return v;
}

}  // namespace

Result<std::string> RenderUkiCmdline(const SlotEntry& entry) {
  BASALT_RETURN_IF_ERROR(ValidateSlotEntry(entry));
  return SlotKernelCmdline(entry);
}

std::string RenderUkiOsRelease(std::string_view os_name, const SlotEntry& entry, Slot slot) {
  return fmt::format(
      "NAME=\"{0}\"\n"
      "PRETTY_NAME=\"{0} {1} (slot {2})\"\n"
      "IMAGE_VERSION={1}\n",
      os_name, entry.version, SlotName(slot));
}

Result<SlotEntry> ParseUkiEntry(std::string_view uki) {
  constexpr std::array<std::string_view, 2> kNames = {".cmdline", ".osrel"};
  BASALT_ASSIGN_OR_RETURN(auto sections, ReadPeSections(uki, kNames));
  for (std::string_view name : kNames) {
    if (!sections.contains(std::string(name))) {
      return Failf(ErrorKind::kInvalidInput, "not a Basalt UKI: it has no {} section", name);
    }
  }
  std::string_view cmdline = SectionText(sections[".cmdline"]);
  if (cmdline.find_first_of("\n\r") != std::string_view::npos) {
    return Fail(ErrorKind::kInvalidInput, "UKI .cmdline: more than one line");
  }
  std::string version;
  LineReader lines(SectionText(sections[".osrel"]));
  std::string_view line;
  while (lines.Next(&line)) {
    if (line.starts_with("IMAGE_VERSION=")) version = Unquote(line.substr(14));
  }
  if (version.empty()) return Fail(ErrorKind::kInvalidInput, "UKI .osrel: no IMAGE_VERSION");
  // The same rules as a type-1 entry's version and options (ValidateSlotEntry inside).
  auto entry = ParseBlsEntry(fmt::format("version {}\noptions {}\n", version, cmdline));
  if (!entry) return std::unexpected(std::move(entry).error().WithContext("UKI"));
  if (entry->usr_partuuid.empty() || entry->usrhash.empty()) {
    return Fail(ErrorKind::kInvalidInput,
                "UKI .cmdline: no basalt.usr=PARTUUID= or no basalt.usrhash=");
  }
  return entry;
}

Result<std::vector<EspTextFile>> UkiEspFiles(const SlotEntry& slot_a) {
  BASALT_RETURN_IF_ERROR(ValidateSlotEntry(slot_a));
  return std::vector<EspTextFile>{{kLoaderConfPath, RenderLoaderConf()}};
}

}  // namespace basalt::boot
