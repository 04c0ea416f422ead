#include "kernel_args.h"

#include <algorithm>

namespace basalt::update {

CarriedArgs CarriedOverKernelArgs(std::string_view proc_cmdline) {
  CarriedArgs out;
  constexpr std::string_view kSpace = " \t\n";
  for (size_t pos = proc_cmdline.find_first_not_of(kSpace); pos != std::string_view::npos;) {
    size_t end = std::min(proc_cmdline.find_first_of(kSpace, pos), proc_cmdline.size());
    std::string_view word = proc_cmdline.substr(pos, end - pos);
    pos = proc_cmdline.find_first_not_of(kSpace, end);
    if (word.starts_with("basalt.usr=") || word.starts_with("basalt.usrhash=") ||
        word.starts_with("BOOT_IMAGE=") || word.starts_with("initrd=")) {
      continue;
    }
    if (word.find_first_of("\"'$\\") != std::string_view::npos) {
      out.dropped.emplace_back(word);
      continue;
    }
    if (!out.args.empty()) out.args += ' ';
    out.args += word;
  }
  return out;
}

}  // namespace basalt::update
