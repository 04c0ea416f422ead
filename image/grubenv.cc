#include "image/grubenv.h"

#include <fmt/format.h>

namespace basalt::image {
namespace {

constexpr std::string_view kHeader = "# GRUB Environment Block\n";

bool ValidKey(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

}  // namespace

Result<std::string> SerializeGrubenv(const std::map<std::string, std::string>& vars) {
  std::string out(kHeader);
  for (const auto& [k, v] : vars) {
    if (!ValidKey(k)) return Failf(ErrorKind::kInvalidInput, "grubenv: invalid key '{}'", k);
    if (v.find_first_of("\n\\") != std::string::npos) {
      return Failf(ErrorKind::kInvalidInput, "grubenv: value of {} holds a newline or backslash",
                   k);
    }
    out += k + "=" + v + "\n";
  }
  if (out.size() > kGrubenvSize) {
    return Failf(ErrorKind::kInvalidInput,
                 "grubenv: {} bytes of variables exceed the {}-byte block", out.size(),
                 kGrubenvSize);
  }
  out.resize(kGrubenvSize, '#');
  return out;
}

Result<std::map<std::string, std::string>> ParseGrubenv(std::string_view block) {
  if (block.size() != kGrubenvSize) {
    return Failf(ErrorKind::kInvalidInput, "grubenv: {} bytes, expected {}", block.size(),
                 kGrubenvSize);
  }
  if (block.substr(0, kHeader.size()) != kHeader) {
    return Fail(ErrorKind::kInvalidInput, "grubenv: missing '# GRUB Environment Block' header");
  }
  std::map<std::string, std::string> vars;
  size_t pos = kHeader.size();
  while (pos < block.size()) {
    size_t nl = block.find('\n', pos);
    if (block[pos] == '#') {
      if (nl == std::string_view::npos) break;  // the padding runs to the end
      pos = nl + 1;
      continue;
    }
    if (nl == std::string_view::npos) {
      return Fail(ErrorKind::kInvalidInput, "grubenv: unterminated line before the padding");
    }
    std::string_view line = block.substr(pos, nl - pos);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || !ValidKey(line.substr(0, eq))) {
      return Failf(ErrorKind::kInvalidInput, "grubenv: malformed line at byte {}", pos);
    }
    vars[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    pos = nl + 1;
  }
  return vars;
}

}  // namespace basalt::image
