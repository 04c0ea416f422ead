#include "backends/grub/grubenv.h"

#include <cctype>

namespace basalt::boot {
namespace {

bool ValidKey(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// GRUB escapes '\\' and '\n' in values; we never write them, so a value containing them is
// refused on write and a backslash on read is kept verbatim only if GRUB could have written it.
bool ValidValue(std::string_view value) {
  for (char c : value) {
    if (c == '\n' || c == '\\' || c == '\0') return false;
  }
  return true;
}

}  // namespace

Result<GrubEnv> ParseGrubEnv(std::string_view block) {
  if (block.size() != kGrubEnvSize) {
    return Failf(ErrorKind::kInvalidInput, "grubenv is {} bytes; a GRUB environment block is {}",
                 block.size(), kGrubEnvSize);
  }
  if (!block.starts_with(kGrubEnvHeader)) {
    return Fail(ErrorKind::kInvalidInput,
                "grubenv does not start with the header '# GRUB Environment Block'");
  }
  GrubEnv env;
  size_t pos = kGrubEnvHeader.size();
  int line_no = 1;
  while (pos < block.size()) {
    line_no++;
    if (block[pos] == '#') {
      // Padding: everything from here to the end must be '#'.
      for (size_t i = pos; i < block.size(); i++) {
        if (block[i] != '#') {
          return Failf(ErrorKind::kInvalidInput,
                       "grubenv: byte {} is 0x{:02x} inside the '#' padding", i,
                       static_cast<unsigned char>(block[i]));
        }
      }
      break;
    }
    size_t end = block.find('\n', pos);
    if (end == std::string_view::npos) {
      return Failf(ErrorKind::kInvalidInput, "grubenv: line {} (byte {}) has no newline", line_no,
                   pos);
    }
    std::string_view line = block.substr(pos, end - pos);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Failf(ErrorKind::kInvalidInput, "grubenv: line {} has no '=': '{}'", line_no,
                   line.substr(0, 64));
    }
    std::string_view key = line.substr(0, eq);
    std::string_view value = line.substr(eq + 1);
    if (!ValidKey(key)) {
      return Failf(ErrorKind::kInvalidInput, "grubenv: line {} has an invalid variable name '{}'",
                   line_no, key.substr(0, 64));
    }
    if (value.find('\0') != std::string_view::npos) {
      return Failf(ErrorKind::kInvalidInput, "grubenv: line {} has a NUL byte in its value",
                   line_no);
    }
    if (!env.emplace(std::string(key), std::string(value)).second) {
      return Failf(ErrorKind::kInvalidInput, "grubenv: variable '{}' is set twice", key);
    }
    pos = end + 1;
  }
  return env;
}

Result<std::string> SerializeGrubEnv(const GrubEnv& env) {
  std::string out(kGrubEnvHeader);
  for (const auto& [key, value] : env) {
    if (!ValidKey(key)) {
      return Failf(ErrorKind::kInvalidInput, "grubenv: invalid variable name '{}'", key);
    }
    if (!ValidValue(value)) {
      return Failf(ErrorKind::kInvalidInput,
                   "grubenv: value of '{}' contains a newline, backslash or NUL", key);
    }
    out += key;
    out += '=';
    out += value;
    out += '\n';
  }
  if (out.size() > kGrubEnvSize) {
    return Failf(ErrorKind::kInvalidInput, "grubenv: variables need {} bytes, the block holds {}",
                 out.size(), kGrubEnvSize);
  }
  out.append(kGrubEnvSize - out.size(), '#');
  return out;
}

}  // namespace basalt::boot
