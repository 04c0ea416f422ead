// basalt-init: PID 1 of the initramfs. Mounts the verity-protected /usr of the slot the
// bootloader chose and the writable ROOT, then hands over to the real init. On any failure it
// prints one line saying what failed and reboots (so the bootloader's tries count down) or
// opens an emergency shell with basalt.emergency=shell. It never waits forever.
#include <unistd.h>

#include "cmdline.h"
#include "common/fd.h"
#include "init_steps.h"

using namespace basalt;
using namespace basalt::init;

namespace {

constexpr int kDeviceTimeoutMs = 15000;

// Policy before the command line could be parsed: the lenient scan for basalt.emergency alone.
FailurePolicy EarlyPolicy(std::string_view cmdline) {
  for (const std::string& w : SplitCmdline(cmdline)) {
    if (w == "basalt.emergency=shell") return FailurePolicy::kShell;
  }
  return FailurePolicy::kReboot;
}

template <typename T>
T Must(Result<T> r, std::string_view step, FailurePolicy policy) {
  if (!r) FailAndStop(step, r.error(), policy);
  return std::move(*r);
}

void Must(const Status& s, std::string_view step, FailurePolicy policy) {
  if (!s) FailAndStop(step, s.error(), policy);
}

}  // namespace

int main(int argc, char** argv) {
  if (::getpid() != 1 && !(argc > 1 && std::string_view(argv[1]) == "--not-pid1")) {
    fmt::print(stderr, "basalt-init is the initramfs's PID 1; it does not run on a booted host\n");
    return 2;
  }
  FailurePolicy policy = FailurePolicy::kReboot;
  Must(MountEarlyFilesystems(), "mount /proc, /sys, /dev", policy);
  std::string cmdline = Must(ReadFileToString("/proc/cmdline"), "read /proc/cmdline", policy);
  policy = EarlyPolicy(cmdline);
  InitConfig config = Must(ParseInitCmdline(cmdline), "parse the kernel command line", policy);
  policy = config.on_failure;

  int loaded = Must(LoadInitramfsModules(), "load kernel modules", policy);
  LogLine(fmt::format("loaded {} kernel modules", loaded));

  std::string usr = Must(WaitForDevice(config.usr, kDeviceTimeoutMs), "find /usr", policy);
  std::string root = Must(WaitForDevice(config.root, kDeviceTimeoutMs), "find ROOT", policy);
  if (config.grow_root) {
    // Growing is an optimisation of the first boot: a failure is reported, not fatal.
    auto grown = GrowPartitionToDiskEnd(root);
    if (!grown) {
      LogLine(fmt::format("warning: grow ROOT partition: {}", grown.error().message()));
    } else if (*grown > 0) {
      LogLine(fmt::format("grew ROOT partition by {} MiB", *grown >> 20));
      root = Must(WaitForDevice(config.root, kDeviceTimeoutMs), "find ROOT after growing", policy);
    }
  }
  std::string usr_dm = Must(OpenVerityUsr(usr, config), "open /usr with dm-verity", policy);
  LogLine(fmt::format("/usr: {} opened through dm-verity as {} (root hash {})", usr, usr_dm,
                      config.usrhash));
  Must(MountRootAndUsr(root, usr_dm, config), "mount ROOT and /usr", policy);
  if (config.grow_root) {
    if (auto st = GrowRootFilesystem(root); !st) {
      LogLine(fmt::format("warning: grow ROOT filesystem: {}", st.error().message()));
    }
  }
  LogLine(fmt::format("switching root to ROOT ({}) and starting {}", root, config.init));
  Must(SwitchRootAndExec(config), "switch root", policy);
  return 1;
}
