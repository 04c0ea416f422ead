#include "kernel_args.h"

#include <algorithm>
#include <vector>

namespace basalt::update {
namespace {

// Where the kernel and the console put their output, and how much of it: nothing here chooses
// what boots or how it is protected. `key=` entries match any value; bare words match exactly.
constexpr std::string_view kAllowed[] = {
    "console=",  "earlycon", "earlycon=", "earlyprintk",          "earlyprintk=",
    "loglevel=", "quiet",    "panic=",    "systemd.show_status=",
};

// Set by each entry (its /usr and hash, its slot) or by the bootloader (BOOT_IMAGE=, initrd=):
// never carried, and not worth a warning.
constexpr std::string_view kSetByTheEntry[] = {
    "basalt.usr=", "basalt.usrhash=", "basalt.slot=", "BOOT_IMAGE=", "initrd="};

bool Matches(std::string_view word, std::string_view pattern) {
  return pattern.ends_with('=') ? word.starts_with(pattern) : word == pattern;
}

}  // namespace

CarriedArgs CarriedOverKernelArgs(std::string_view proc_cmdline) {
  CarriedArgs out;
  constexpr std::string_view kSpace = " \t\n";
  for (size_t pos = proc_cmdline.find_first_not_of(kSpace); pos != std::string_view::npos;) {
    size_t end = std::min(proc_cmdline.find_first_of(kSpace, pos), proc_cmdline.size());
    std::string_view word = proc_cmdline.substr(pos, end - pos);
    pos = proc_cmdline.find_first_not_of(kSpace, end);
    auto matches = [word](std::string_view p) { return Matches(word, p); };
    if (std::ranges::any_of(kSetByTheEntry, matches)) continue;
    if (!std::ranges::any_of(kAllowed, matches)) {
      out.dropped.push_back(std::string(word) + " (not on the allowlist)");
      continue;
    }
    if (word.find_first_of("\"'$\\") != std::string_view::npos) {
      out.dropped.push_back(std::string(word) + " (a boot entry cannot hold quotes, '$' or '\\')");
      continue;
    }
    if (!out.args.empty()) out.args += ' ';
    out.args += word;
  }
  return out;
}

std::string SlotKernelArgs(const std::optional<std::string>& release_args,
                           std::string_view carried) {
  if (!release_args || release_args->empty()) return std::string(carried);
  std::string out = *release_args;
  std::vector<std::string_view> have;
  for (size_t pos = 0; pos < release_args->size();) {
    size_t end = std::min(release_args->find(' ', pos), release_args->size());
    have.push_back(std::string_view(*release_args).substr(pos, end - pos));
    pos = end + 1;
  }
  for (size_t pos = carried.find_first_not_of(' '); pos != std::string_view::npos;) {
    size_t end = std::min(carried.find(' ', pos), carried.size());
    std::string_view word = carried.substr(pos, end - pos);
    pos = carried.find_first_not_of(' ', end);
    if (std::ranges::find(have, word) != have.end()) continue;
    out += ' ';
    out += word;
  }
  return out;
}

}  // namespace basalt::update
