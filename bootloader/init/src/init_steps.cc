#include "init_steps.h"

#include <fcntl.h>
#include <libcryptsetup.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include "common/fd.h"
#include "fs_size.h"
#include "init/modules_dep.h"

namespace basalt::init {
namespace {

// A mount point that cannot be made shows up as its mount's failure, which names the path;
// anything but "already there" is logged first, so the cause is on the console too.
void MakeMountPoint(InitSystem& sys, const std::string& path) {
  if (int err = sys.MakeDir(path); err != 0 && err != EEXIST) {
    sys.Log(fmt::format("mkdir {}: {}", path, std::strerror(err)));
  }
}

// EBUSY: already mounted (a second run, or the kernel mounted devtmpfs itself).
Status MountOne(InitSystem& sys, const char* source, const char* target, const char* type,
                unsigned long flags, const char* data = "") {
  MakeMountPoint(sys, target);
  if (int err = sys.Mount(source, target, type, flags, data); err != 0 && err != EBUSY) {
    return std::unexpected(Error::FromErrno(err, fmt::format("mount {} on {}", type, target)));
  }
  return {};
}

std::vector<uint8_t> HexBytes(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

}  // namespace

Status MountEarlyFilesystems(InitSystem& sys) {
  BASALT_RETURN_IF_ERROR(MountOne(sys, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC));
  BASALT_RETURN_IF_ERROR(MountOne(sys, "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC));
  BASALT_RETURN_IF_ERROR(MountOne(sys, "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"));
  BASALT_RETURN_IF_ERROR(
      MountOne(sys, "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
  // Without this, output goes nowhere when the kernel started us without a console fd.
  sys.UseConsoleForStdio();
  return {};
}

Result<int> LoadInitramfsModules(InitSystem& sys) {
  const std::string dir = sys.ModulesDir();
  auto dep_text = ReadFileToString(dir + "/modules.dep");
  if (!dep_text) {
    sys.Log(fmt::format("no {}/modules.dep; relying on built-in drivers", dir));
    return 0;
  }
  BASALT_ASSIGN_OR_RETURN(ModuleGraph graph, ParseModulesDep(*dep_text));
  std::vector<std::string> all;
  for (const auto& [name, _] : graph)
    all.push_back(name);
  BASALT_ASSIGN_OR_RETURN(LoadPlan plan, PlanModuleLoad(graph, all));
  int loaded = 0;
  for (const std::string& rel : plan.paths) {
    std::string path = dir + "/" + rel;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      sys.Log(fmt::format("module {}: {}", rel, std::strerror(errno)));
      continue;
    }
    int flags = 0;
    if (rel.ends_with(".xz") || rel.ends_with(".zst") || rel.ends_with(".gz")) {
      flags = 4;  // MODULE_INIT_COMPRESSED_FILE: the kernel decompresses
    }
    int err = sys.LoadModule(fd, flags);
    ::close(fd);
    if (err == 0) {
      loaded++;
    } else if (err != EEXIST) {
      sys.Log(fmt::format("module {}: {}", ModuleName(rel), std::strerror(err)));
    }
  }
  return loaded;
}

Result<std::string> WaitForDevice(InitSystem& sys, const std::string& spec, int timeout_ms) {
  for (int waited = 0;; waited += 100) {
    if (std::optional<std::string> dev = sys.FindDevice(spec)) return *dev;
    if (waited >= timeout_ms) break;
    sys.Sleep(100);
  }
  return Failf(ErrorKind::kNotFound, "no device matches {} after {} s", spec, timeout_ms / 1000);
}

Result<uint64_t> GrowPartitionToDiskEnd(InitSystem& sys, const std::string& partition) {
  BASALT_ASSIGN_OR_RETURN(PartitionOf part, sys.WholeDiskOf(partition));
  BASALT_ASSIGN_OR_RETURN(uint64_t gained, sys.GrowPartitionToEnd(part.disk, part.number));
  if (gained == 0) return gained;
  BASALT_RETURN_IF_ERROR(sys.RereadPartitionTable(part.disk));
  return gained;
}

Result<std::string> OpenVerityUsr(InitSystem& sys, const std::string& device,
                                  const InitConfig& config) {
  uint64_t offset = 0;
  if (config.usr_hash_offset) {
    offset = *config.usr_hash_offset;
  } else {
    BASALT_ASSIGN_OR_RETURN(offset, ErofsImageSize(device));
    offset = (offset + 4095) / 4096 * 4096;
  }
  BASALT_ASSIGN_OR_RETURN(bool has_sb, HasVeritySuperblock(device, offset));
  if (!has_sb) {
    return Failf(ErrorKind::kIntegrity, "{}: no dm-verity superblock at byte {} (end of /usr)",
                 device, offset);
  }
  const std::vector<uint8_t> root_hash = HexBytes(config.usrhash);
  BASALT_ASSIGN_OR_RETURN(std::unique_ptr<VerityVolume> volume, sys.LoadVerity(device, offset));
  // A wrong root hash shows only when a block is read. Read block 0 once with errors as EIO,
  // so it is reported as one clear line; in restart/panic mode the kernel would reboot at
  // that read before we could say why. Then re-activate with the configured mode.
  BASALT_RETURN_IF_ERROR(volume->Activate("usr", root_hash, CRYPT_ACTIVATE_READONLY));
  BASALT_ASSIGN_OR_RETURN(std::string node, sys.DmNode("usr"));
  {
    BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(node, O_RDONLY));
    std::vector<uint8_t> block(4096);
    if (!PreadFull(fd.get(), block, 0, node)) {
      fd.Reset();
      // The mismatch below is the failure to report; a device left behind is read-only and
      // gone with the reboot that follows, so its removal failing is only logged.
      if (Status st = volume->Deactivate("usr"); !st) sys.Log(st.error().message());
      return Failf(ErrorKind::kIntegrity,
                   "{}: dm-verity rejects the first block: the root hash {} does not match this "
                   "/usr (wrong slot entry or corrupted partition)",
                   device, config.usrhash);
    }
  }
  uint32_t flags = 0;
  if (config.verity == VerityErrorMode::kRestart) flags = CRYPT_ACTIVATE_RESTART_ON_CORRUPTION;
  if (config.verity == VerityErrorMode::kPanic) flags = CRYPT_ACTIVATE_PANIC_ON_CORRUPTION;
  if (flags != 0) {
    BASALT_RETURN_IF_ERROR(volume->Deactivate("usr"));
    BASALT_RETURN_IF_ERROR(volume->Activate("usr", root_hash, CRYPT_ACTIVATE_READONLY | flags));
    BASALT_ASSIGN_OR_RETURN(node, sys.DmNode("usr"));
  }
  return node;
}

Status MountRootAndUsr(InitSystem& sys, const std::string& root_device,
                       const std::string& usr_device, const InitConfig& config) {
  MakeMountPoint(sys, kSysroot);
  if (int err = sys.Mount(root_device, kSysroot, config.root_fstype, 0, ""); err != 0) {
    return std::unexpected(Error::FromErrno(
        err, fmt::format("mount ROOT {} ({}) on {}", root_device, config.root_fstype, kSysroot)));
  }
  const std::string usr = std::string(kSysroot) + "/usr";
  MakeMountPoint(sys, usr);
  if (int err = sys.Mount(usr_device, usr, config.usr_fstype, MS_RDONLY | MS_NODEV, ""); err != 0) {
    return Failf(
        ErrorKind::kIo, "mount /usr {} ({}, read-only): {}{}", usr_device, config.usr_fstype,
        std::strerror(err),
        err == EIO ? " (dm-verity rejected the data: wrong root hash or corrupted /usr)" : "");
  }
  return {};
}

Status GrowRootFilesystem(InitSystem& sys, const std::string& root_device) {
  BASALT_ASSIGN_OR_RETURN(uint64_t fs_size, Ext4Size(root_device));
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(root_device, O_RDONLY));
  BASALT_ASSIGN_OR_RETURN(uint64_t part_size, FileOrDeviceSize(fd.get(), root_device));
  if (fs_size + (1 << 20) > part_size) return {};
  sys.Log(fmt::format("growing ROOT filesystem from {} to {} MiB", fs_size >> 20, part_size >> 20));
  return sys.RunTool({"resize2fs", root_device});
}

Status SwitchRootAndExec(InitSystem& sys, const InitConfig& config) {
  for (const char* m : {"/dev", "/proc", "/sys", "/run"}) {
    const std::string target = std::string(kSysroot) + m;
    MakeMountPoint(sys, target);
    if (int err = sys.Mount(m, target, "", MS_MOVE, ""); err != 0) {
      return std::unexpected(Error::FromErrno(err, fmt::format("move {} to {}", m, target)));
    }
  }
  if (int err = sys.ChangeDir(kSysroot); err != 0) {
    return std::unexpected(Error::FromErrno(err, "chdir /sysroot"));
  }
  if (int err = sys.Mount(".", "/", "", MS_MOVE, ""); err != 0) {
    return std::unexpected(Error::FromErrno(err, "move /sysroot to /"));
  }
  if (int err = sys.ChangeRoot("."); err != 0) {
    return std::unexpected(Error::FromErrno(err, "chroot"));
  }
  if (int err = sys.ChangeDir("/"); err != 0)
    return std::unexpected(Error::FromErrno(err, "chdir /"));
  std::string init = config.init;
  if (init.empty()) {
    // Inside the verified /usr: not /sbin/init, which resolves through ROOT's writable /sbin
    // symlink, and not a symlink inside /usr, which may point back out into ROOT.
    for (const char* candidate : kDefaultInits) {
      if (sys.IsExecutableFile(candidate)) {
        init = candidate;
        break;
      }
    }
    if (init.empty()) {
      return Failf(ErrorKind::kNotFound,
                   "no init inside /usr: neither {} nor {} is a regular executable file (set "
                   "init= in the boot entry for another one)",
                   kDefaultInits[0], kDefaultInits[1]);
    }
  }
  if (int err = sys.Exec({init}); err != 0) {
    return std::unexpected(Error::FromErrno(err, fmt::format("exec {}", init)));
  }
  return {};  // only a fake returns from a successful exec
}

}  // namespace basalt::init
