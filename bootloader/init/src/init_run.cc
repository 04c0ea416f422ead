#include "init_run.h"

#include "init_steps.h"

namespace basalt::init {

// A shell only when the line asks for one unambiguously: a repeated basalt.emergency= (refused
// by the parser) falls back to reboot, the safe side.
FailurePolicy EarlyPolicy(std::string_view cmdline) {
  int emergency = 0;
  bool shell = false;
  for (const std::string& w : SplitCmdline(cmdline)) {
    if (!w.starts_with("basalt.emergency=")) continue;
    ++emergency;
    shell = w == "basalt.emergency=shell";
  }
  return emergency == 1 && shell ? FailurePolicy::kShell : FailurePolicy::kReboot;
}

std::optional<InitFailure> RunInit(InitSystem& sys) {
  FailurePolicy policy = FailurePolicy::kReboot;
  auto failed = [&](std::string_view step, const Error& error) {
    return InitFailure{std::string(step), error, policy};
  };

  if (Status st = MountEarlyFilesystems(sys); !st) {
    return failed("mount /proc, /sys, /dev", st.error());
  }
  Result<std::string> cmdline = sys.ReadKernelCmdline();
  if (!cmdline) return failed("read /proc/cmdline", cmdline.error());
  policy = EarlyPolicy(*cmdline);
  Result<InitConfig> parsed = ParseInitCmdline(*cmdline);
  if (!parsed) return failed("parse the kernel command line", parsed.error());
  const InitConfig& config = *parsed;
  policy = config.on_failure;

  Result<int> loaded = LoadInitramfsModules(sys);
  if (!loaded) return failed("load kernel modules", loaded.error());
  sys.Log(fmt::format("loaded {} kernel modules", *loaded));

  Result<std::string> usr = WaitForDevice(sys, config.usr, kDeviceTimeoutMs);
  if (!usr) return failed("find /usr", usr.error());
  Result<std::string> root = WaitForDevice(sys, config.root, kDeviceTimeoutMs);
  if (!root) return failed("find ROOT", root.error());
  if (config.grow_root) {
    // Growing is an optimisation of the first boot: a failure is reported, not fatal.
    Result<uint64_t> grown = GrowPartitionToDiskEnd(sys, *root);
    if (!grown) {
      sys.Log(fmt::format("warning: grow ROOT partition: {}", grown.error().message()));
    } else if (*grown > 0) {
      sys.Log(fmt::format("grew ROOT partition by {} MiB", *grown >> 20));
      root = WaitForDevice(sys, config.root, kDeviceTimeoutMs);
      if (!root) return failed("find ROOT after growing", root.error());
    }
  }
  Result<std::string> usr_dm = OpenVerityUsr(sys, *usr, config);
  if (!usr_dm) return failed("open /usr with dm-verity", usr_dm.error());
  sys.Log(fmt::format("/usr: {} opened through dm-verity as {} (root hash {})", *usr, *usr_dm,
                      config.usrhash));
  if (Status st = MountRootAndUsr(sys, *root, *usr_dm, config); !st) {
    return failed("mount ROOT and /usr", st.error());
  }
  if (config.grow_root) {
    // Like the partition: a ROOT that did not grow still boots.
    if (Status st = GrowRootFilesystem(sys, *root); !st) {
      sys.Log(fmt::format("warning: grow ROOT filesystem: {}", st.error().message()));
    }
  }
  sys.Log(fmt::format("switching root to ROOT ({}) and starting {}", *root,
                      config.init.empty() ? "the init inside /usr" : config.init));
  if (Status st = SwitchRootAndExec(sys, config); !st) return failed("switch root", st.error());
  return std::nullopt;
}

void FailAndStop(InitSystem& sys, const InitFailure& failure) {
  sys.Log(fmt::format("FAILED: {}: {}", failure.step, failure.error.message()));
  if (failure.policy == FailurePolicy::kShell) {
    for (const char* shell : {"/bin/sh", "/bin/busybox"}) {
      if (!sys.IsExecutable(shell)) continue;
      sys.Log(fmt::format("basalt.emergency=shell: starting {}; exit it to reboot", shell));
      // busybox needs the applet name; /bin/sh does not mind the extra argument's absence.
      std::vector<std::string> argv = {shell};
      if (std::string_view(shell).ends_with("busybox")) argv.push_back("sh");
      // Rebooting is next either way; a shell that would not start is said on the console.
      if (Status st = sys.RunAndWait(argv); !st) sys.Log(st.error().message());
      break;
    }
  }
  sys.Log("rebooting so the bootloader can count this attempt and fall back");
  sys.Reboot();
}

}  // namespace basalt::init
