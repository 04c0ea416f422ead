#include "boot/slot_entry.h"

#include <cctype>

#include "common/line_reader.h"

namespace basalt::boot {

std::string SlotKernelPath(Slot slot) {
  return fmt::format("/basalt/{}/vmlinuz", SlotName(slot));
}
std::string SlotInitrdPath(Slot slot) {
  return fmt::format("/basalt/{}/initrd.img", SlotName(slot));
}
std::string GrubSlotConfigPath(Slot slot) {
  return fmt::format("/basalt/{}.cfg", SlotName(slot));
}

std::string SlotKernelCmdline(const SlotEntry& entry) {
  std::string out =
      fmt::format("basalt.usr=PARTUUID={} basalt.usrhash={}", entry.usr_partuuid, entry.usrhash);
  if (!entry.extra_cmdline.empty()) out += " " + entry.extra_cmdline;
  return out;
}

namespace {

Status CheckText(std::string_view field, std::string_view value, bool allow_space) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\' || c == '$' || c == '\'' || std::iscntrl(u) ||
        (!allow_space && c == ' ')) {
      return Failf(ErrorKind::kInvalidInput, "slot entry {} contains a forbidden character: '{}'",
                   field, value);
    }
  }
  return {};
}

}  // namespace

Status ValidateSlotEntry(const SlotEntry& e) {
  BASALT_RETURN_IF_ERROR(CheckText("version", e.version, false));
  BASALT_RETURN_IF_ERROR(CheckText("usr partuuid", e.usr_partuuid, false));
  BASALT_RETURN_IF_ERROR(CheckText("extra command line", e.extra_cmdline, true));
  for (char c : e.usrhash) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return Failf(ErrorKind::kInvalidInput, "usrhash '{}' is not hex", e.usrhash);
    }
  }
  return {};
}

Result<std::string> RenderGrubSlotConfig(Slot slot, const SlotEntry& e) {
  BASALT_RETURN_IF_ERROR(ValidateSlotEntry(e));
  return fmt::format(
      "# Basalt boot entry for slot {0}. Replaced atomically by basalt; do not edit.\n"
      "set basalt_version=\"{1}\"\n"
      "set basalt_usr_partuuid=\"{2}\"\n"
      "set basalt_usrhash=\"{3}\"\n"
      "set basalt_extra_cmdline=\"{4}\"\n"
      "set basalt_cmdline=\"{5}\"\n",
      SlotName(slot), e.version, e.usr_partuuid, e.usrhash, e.extra_cmdline, SlotKernelCmdline(e));
}

Result<SlotEntry> ParseGrubSlotConfig(std::string_view text) {
  SlotEntry e;
  LineReader lines(text);
  std::string_view line;
  while (lines.Next(&line)) {
    const int line_no = lines.line_no();
    if (line.empty() || line[0] == '#') continue;
    constexpr std::string_view kSet = "set ";
    size_t eq = line.find('=');
    if (!line.starts_with(kSet) || eq == std::string_view::npos || line.size() < eq + 3 ||
        line[eq + 1] != '"' || line.back() != '"') {
      return Failf(ErrorKind::kInvalidInput, "slot config line {}: expected set NAME=\"VALUE\"",
                   line_no);
    }
    std::string_view key = line.substr(kSet.size(), eq - kSet.size());
    std::string value(line.substr(eq + 2, line.size() - eq - 3));
    if (key == "basalt_version")
      e.version = value;
    else if (key == "basalt_usr_partuuid")
      e.usr_partuuid = value;
    else if (key == "basalt_usrhash")
      e.usrhash = value;
    else if (key == "basalt_extra_cmdline")
      e.extra_cmdline = value;
    else if (key != "basalt_cmdline") {
      return Failf(ErrorKind::kInvalidInput, "slot config line {}: unknown variable '{}'", line_no,
                   key);
    }
  }
  BASALT_RETURN_IF_ERROR(ValidateSlotEntry(e));
  return e;
}

}  // namespace basalt::boot
