// What systemd-boot 252 does with our entries, for the backends' unit tests.
#pragma once

#include <string.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/systemd-boot/bls_layout.h"

namespace basalt::boot {

// What systemd-boot 252 does: sort entries (no tries left last, then by id, descending
// version order), take the first matching "basalt-*", and count the boot in its name.
// Type-2 entries (UKIs in /EFI/Linux whose .osrel has no ID or IMAGE_ID, as ours) sort the same.
inline std::optional<Slot> SdBootPick(std::map<std::string, std::string>& files, bool count,
                                      std::string_view entries_dir = kBlsEntriesDir,
                                      std::string_view suffix = ".conf") {
  const std::string dir = std::string(entries_dir) + "/";
  std::vector<std::string> names;
  for (const auto& [path, _] : files) {
    if (path.starts_with(dir) && path.ends_with(suffix)) names.push_back(path.substr(dir.size()));
  }
  auto bad = [](const std::string& n) { return n.find("+0") != std::string::npos; };
  std::sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
    if (bad(a) != bad(b)) return !bad(a);
    return strverscmp(a.c_str(), b.c_str()) > 0;
  });
  if (names.empty()) return std::nullopt;
  BlsName n = **ParseBlsName(names[0], suffix);
  if (count && n.tries_left && *n.tries_left > 0) {
    BlsName after = n;
    (*after.tries_left)--;
    after.tries_done++;
    files[dir + FormatBlsName(after, suffix)] = files[dir + names[0]];
    files.erase(dir + names[0]);
  }
  return n.slot;
}

}  // namespace basalt::boot
