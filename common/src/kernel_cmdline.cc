#include "common/kernel_cmdline.h"

#include "common/printable.h"

namespace basalt {
namespace {

constexpr std::string_view kReservedKeys[] = {
    "basalt.usr=", "basalt.usrhash=", "basalt.slot=", "mount.usr=",
    "usrhash=",    "BOOT_IMAGE=",     "initrd="};
constexpr size_t kMaxBytes = 1024;

}  // namespace

Status CheckImageKernelArgs(std::string_view args, std::string_view what) {
  if (args.size() > kMaxBytes) {
    return Failf(ErrorKind::kInvalidInput, "{}: {} bytes, at most {}", what, args.size(),
                 kMaxBytes);
  }
  for (char c : args) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || c == '"' || c == '\'' || c == '$' || c == '\\') {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: \"{}\" holds a character a boot entry cannot carry (only printable ASCII "
                   "without quotes, '$' or '\\')",
                   what, Printable(args, 80));
    }
  }
  if (args.starts_with(' ') || args.ends_with(' ') || args.find("  ") != std::string_view::npos) {
    return Failf(ErrorKind::kInvalidInput, "{}: words must be separated by single spaces", what);
  }
  for (size_t pos = 0; pos < args.size();) {
    size_t end = std::min(args.find(' ', pos), args.size());
    std::string_view word = args.substr(pos, end - pos);
    for (std::string_view key : kReservedKeys) {
      if (word.starts_with(key)) {
        return Failf(ErrorKind::kInvalidInput,
                     "{}: \"{}\" is set by each boot entry or the bootloader itself (basalt-init "
                     "refuses a command line that repeats it)",
                     what, word);
      }
    }
    pos = end + 1;
  }
  return {};
}

}  // namespace basalt
