#include "init_steps.h"

#include <blkid/blkid.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/fd.h"
#include "common/hex.h"
#include "common/subprocess.h"
#include "disk/gpt_disk.h"
#include "fs_size.h"
#include "init/modules_dep.h"

namespace basalt::init {
namespace {

Status MountOne(const char* source, const char* target, const char* type, unsigned long flags,
                const char* data = nullptr) {
  ::mkdir(target, 0755);
  if (::mount(source, target, type, flags, data) != 0 && errno != EBUSY) {
    return FailErrno(fmt::format("mount {} on {}", type, target));
  }
  return {};
}

// The partition's whole disk and partition number, from sysfs.
Result<std::pair<std::string, size_t>> DiskOf(const std::string& partition) {
  struct stat st {};
  if (::stat(partition.c_str(), &st) != 0) return FailErrno(fmt::format("stat {}", partition));
  char name[256];
  dev_t whole = 0;
  if (blkid_devno_to_wholedisk(st.st_rdev, name, sizeof(name), &whole) != 0) {
    return Failf(ErrorKind::kNotFound, "no whole disk for {}", partition);
  }
  std::string sys =
      fmt::format("/sys/dev/block/{}:{}/partition", major(st.st_rdev), minor(st.st_rdev));
  BASALT_ASSIGN_OR_RETURN(std::string number, ReadFileToString(sys));
  return std::make_pair(fmt::format("/dev/{}", name),
                        static_cast<size_t>(std::strtoul(number.c_str(), nullptr, 10)));
}

// /dev/mapper/NAME when libdevmapper made it; without udev, devtmpfs still has /dev/dm-N.
Result<std::string> DmNode(const std::string& name) {
  std::string mapper = "/dev/mapper/" + name;
  if (::access(mapper.c_str(), F_OK) == 0) return mapper;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/block", ec)) {
    auto dm_name = ReadFileToString(entry.path().string() + "/dm/name");
    if (dm_name && *dm_name == name + "\n") return "/dev/" + entry.path().filename().string();
  }
  return Failf(ErrorKind::kNotFound, "dm device {} was created but has no device node", name);
}

}  // namespace

void LogLine(std::string_view line) {
  std::string text = fmt::format("basalt-init: {}\n", line);
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  int kmsg = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
  if (kmsg >= 0) {
    std::string k = "<5>" + text;
    ignored = ::write(kmsg, k.data(), k.size());
    ::close(kmsg);
  }
  (void)ignored;
}

Status MountEarlyFilesystems() {
  BASALT_RETURN_IF_ERROR(MountOne("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC));
  BASALT_RETURN_IF_ERROR(MountOne("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC));
  BASALT_RETURN_IF_ERROR(MountOne("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"));
  BASALT_RETURN_IF_ERROR(MountOne("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
  // Without this, output goes nowhere when the kernel started us without a console fd.
  int console = ::open("/dev/console", O_RDWR | O_CLOEXEC);
  if (console >= 0) {
    for (int fd = 0; fd <= 2; fd++)
      ::dup2(console, fd);
    if (console > 2) ::close(console);
  }
  return {};
}

Result<int> LoadInitramfsModules() {
  struct utsname uts {};
  ::uname(&uts);
  const std::string dir = fmt::format("/lib/modules/{}", uts.release);
  auto dep_text = ReadFileToString(dir + "/modules.dep");
  if (!dep_text) {
    LogLine(fmt::format("no {}/modules.dep; relying on built-in drivers", dir));
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
      LogLine(fmt::format("module {}: {}", rel, std::strerror(errno)));
      continue;
    }
    int flags = 0;
    if (rel.ends_with(".xz") || rel.ends_with(".zst") || rel.ends_with(".gz")) {
      flags = 4;  // MODULE_INIT_COMPRESSED_FILE: the kernel decompresses
    }
    long rc = ::syscall(SYS_finit_module, fd, "", flags);
    int err = errno;
    ::close(fd);
    if (rc == 0) {
      loaded++;
    } else if (err != EEXIST) {
      LogLine(fmt::format("module {}: {}", ModuleName(rel), std::strerror(err)));
    }
  }
  return loaded;
}

Result<std::string> WaitForDevice(const std::string& spec, int timeout_ms) {
  for (int waited = 0;; waited += 100) {
    blkid_cache cache = nullptr;
    if (blkid_get_cache(&cache, "/dev/null") == 0) {
      char* dev = blkid_evaluate_spec(spec.c_str(), &cache);
      blkid_put_cache(cache);
      if (dev) {
        std::string out(dev);
        free(dev);
        if (::access(out.c_str(), F_OK) == 0) return out;
      }
    }
    if (waited >= timeout_ms) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Failf(ErrorKind::kNotFound, "no device matches {} after {} s", spec, timeout_ms / 1000);
}

Result<uint64_t> GrowPartitionToDiskEnd(const std::string& partition) {
  BASALT_ASSIGN_OR_RETURN(auto disk_part, DiskOf(partition));
  const auto& [disk_path, number] = disk_part;
  uint64_t gained = 0;
  {
    BASALT_ASSIGN_OR_RETURN(disk::GptDisk disk, disk::GptDisk::Open(disk_path, true));
    BASALT_ASSIGN_OR_RETURN(gained, disk.GrowToEnd(number));
    if (gained == 0) return gained;
    BASALT_RETURN_IF_ERROR(disk.Commit());
  }
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(disk_path, O_RDONLY));
  if (::ioctl(fd.get(), BLKRRPART) != 0) {
    return FailErrno(fmt::format("re-read partition table of {}", disk_path));
  }
  return gained;
}

Result<std::string> OpenVerityUsr(const std::string& device, const InitConfig& config) {
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
  std::vector<uint8_t> root_hash;
  for (size_t i = 0; i + 1 < config.usrhash.size(); i += 2) {
    root_hash.push_back(static_cast<uint8_t>(std::stoi(config.usrhash.substr(i, 2), nullptr, 16)));
  }
  crypt_device* cd = nullptr;
  int rc = crypt_init_data_device(&cd, device.c_str(), device.c_str());
  if (rc < 0) return Failf(ErrorKind::kIo, "crypt_init {}: {}", device, std::strerror(-rc));
  std::unique_ptr<crypt_device, decltype(&crypt_free)> guard(cd, &crypt_free);
  crypt_params_verity params{};
  params.hash_area_offset = offset;
  rc = crypt_load(cd, CRYPT_VERITY, &params);
  if (rc < 0) {
    return Failf(ErrorKind::kIntegrity, "load dm-verity superblock of {} at byte {}: {}", device,
                 offset, std::strerror(-rc));
  }
  // A wrong root hash shows only when a block is read. Read block 0 once with errors as EIO,
  // so it is reported as one clear line; in restart/panic mode the kernel would reboot at
  // that read before we could say why. Then re-activate with the configured mode.
  auto activate = [&](uint32_t flags) -> Status {
    int r = crypt_activate_by_volume_key(cd, "usr", reinterpret_cast<const char*>(root_hash.data()),
                                         root_hash.size(), CRYPT_ACTIVATE_READONLY | flags);
    if (r < 0) {
      return Failf(ErrorKind::kIntegrity, "activate dm-verity for {}: {}", device,
                   std::strerror(-r));
    }
    return {};
  };
  BASALT_RETURN_IF_ERROR(activate(0));
  BASALT_ASSIGN_OR_RETURN(std::string node, DmNode("usr"));
  {
    BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(node, O_RDONLY));
    std::vector<uint8_t> block(4096);
    if (!PreadFull(fd.get(), block, 0, node)) {
      fd.Reset();
      crypt_deactivate(cd, "usr");
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
    rc = crypt_deactivate(cd, "usr");
    if (rc < 0) return Failf(ErrorKind::kIo, "deactivate usr: {}", std::strerror(-rc));
    BASALT_RETURN_IF_ERROR(activate(flags));
    BASALT_ASSIGN_OR_RETURN(node, DmNode("usr"));
  }
  return node;
}

Status MountRootAndUsr(const std::string& root_device, const std::string& usr_device,
                       const InitConfig& config) {
  ::mkdir(kSysroot, 0755);
  if (::mount(root_device.c_str(), kSysroot, config.root_fstype.c_str(), 0, nullptr) != 0) {
    return FailErrno(
        fmt::format("mount ROOT {} ({}) on {}", root_device, config.root_fstype, kSysroot));
  }
  std::string usr = std::string(kSysroot) + "/usr";
  ::mkdir(usr.c_str(), 0755);
  if (::mount(usr_device.c_str(), usr.c_str(), config.usr_fstype.c_str(), MS_RDONLY | MS_NODEV,
              nullptr) != 0) {
    int err = errno;
    return Failf(
        ErrorKind::kIo, "mount /usr {} ({}, read-only): {}{}", usr_device, config.usr_fstype,
        std::strerror(err),
        err == EIO ? " (dm-verity rejected the data: wrong root hash or corrupted /usr)" : "");
  }
  return {};
}

Status GrowRootFilesystem(const std::string& root_device) {
  BASALT_ASSIGN_OR_RETURN(uint64_t fs_size, Ext4Size(root_device));
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(root_device, O_RDONLY));
  BASALT_ASSIGN_OR_RETURN(uint64_t part_size, FileOrDeviceSize(fd.get(), root_device));
  if (fs_size + (1 << 20) > part_size) return {};
  LogLine(fmt::format("growing ROOT filesystem from {} to {} MiB", fs_size >> 20, part_size >> 20));
  auto out = RunCommandOk({"resize2fs", root_device});
  if (!out) return std::unexpected(out.error());
  return {};
}

Status SwitchRootAndExec(const InitConfig& config) {
  for (const char* m : {"/dev", "/proc", "/sys", "/run"}) {
    std::string target = std::string(kSysroot) + m;
    ::mkdir(target.c_str(), 0755);
    if (::mount(m, target.c_str(), nullptr, MS_MOVE, nullptr) != 0) {
      return FailErrno(fmt::format("move {} to {}", m, target));
    }
  }
  if (::chdir(kSysroot) != 0) return FailErrno("chdir /sysroot");
  if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0) return FailErrno("move /sysroot to /");
  if (::chroot(".") != 0) return FailErrno("chroot");
  if (::chdir("/") != 0) return FailErrno("chdir /");
  char* argv[] = {const_cast<char*>(config.init.c_str()), nullptr};
  ::execv(argv[0], argv);
  return FailErrno(fmt::format("exec {}", config.init));
}

void FailAndStop(std::string_view step, const Error& error, FailurePolicy policy) {
  LogLine(fmt::format("FAILED: {}: {}", step, error.message()));
  if (policy == FailurePolicy::kShell) {
    for (const char* shell : {"/bin/sh", "/bin/busybox"}) {
      if (::access(shell, X_OK) != 0) continue;
      LogLine(fmt::format("basalt.emergency=shell: starting {}; exit it to reboot", shell));
      pid_t pid = ::fork();
      if (pid == 0) {
        // busybox needs the applet name; /bin/sh does not mind the extra argument's absence.
        bool busybox = std::string_view(shell).ends_with("busybox");
        char* argv[] = {const_cast<char*>(shell), busybox ? const_cast<char*>("sh") : nullptr,
                        nullptr};
        ::execv(shell, argv);
        ::_exit(127);
      }
      int status = 0;
      if (pid > 0) ::waitpid(pid, &status, 0);
      break;
    }
  }
  LogLine("rebooting so the bootloader can count this attempt and fall back");
  ::sync();
  ::reboot(RB_AUTOBOOT);
  // reboot(2) only returns on error (not PID 1 in a test): never hang, exit instead.
  ::_exit(1);
}

}  // namespace basalt::init
