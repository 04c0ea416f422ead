// basalt-init's view of the kernel command line. Parsed once, strictly for basalt's own keys
// (a typo there must fail loudly), leniently for everything else (the kernel and other
// programs own most of the line).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::init {

enum class VerityErrorMode { kRestart, kPanic, kEio };
enum class FailurePolicy { kReboot, kShell };

struct InitConfig {
  std::string usr;      // blkid spec: PARTUUID=..., PARTLABEL=..., UUID=..., /dev/...
  std::string usrhash;  // lower-case hex
  std::optional<uint64_t> usr_hash_offset;  // bytes; default: end of the erofs image
  std::string usr_fstype = "erofs";
  std::string root = "PARTLABEL=ROOT";
  std::string root_fstype = "ext4";
  // init=; empty: the init inside the verified /usr (kDefaultInits), never a path resolved
  // through ROOT's writable /sbin symlink.
  std::string init;
  VerityErrorMode verity = VerityErrorMode::kRestart;
  FailurePolicy on_failure = FailurePolicy::kReboot;
  bool grow_root = true;
};

// Splits like the kernel does: whitespace-separated words, double quotes group.
std::vector<std::string> SplitCmdline(std::string_view cmdline);

// Accepts basalt.usr= / mount.usr=, basalt.usrhash= / usrhash=, basalt.verity=,
// basalt.usrhashoffset=, basalt.usrfstype= / mount.usrfstype=, root=, rootfstype=, init=,
// basalt.emergency=shell|reboot, basalt.grow=0|1. /usr and its hash are required. basalt-init's
// own keys (all of these but root= and rootfstype=) may appear once, in one spelling: with the
// kernel's "last one wins", a second basalt.usr= or an alias such as mount.usr= appended to an
// entry would choose another /usr or hash than the entry's, so such a line is refused.
Result<InitConfig> ParseInitCmdline(std::string_view cmdline);

// The init started when the command line names none, in this order: the first that is a regular
// executable file (not a symlink, which could point out of /usr into ROOT) inside /usr.
inline constexpr const char* kDefaultInits[] = {"/usr/lib/systemd/systemd", "/usr/sbin/init"};

}  // namespace basalt::init
