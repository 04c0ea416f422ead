// InitSystem on Linux: the system calls, libblkid, libfdisk (through disk/gpt_disk.h) and
// libcryptsetup that basalt-init's steps used to call directly.
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
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/fd.h"
#include "common/subprocess.h"
#include "disk/gpt_disk.h"
#include "init_system.h"

namespace basalt::init {
namespace {

// Whether all of `text` reached fd; errno is left set when not.
bool WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

const char* OrNull(const std::string& s) {
  return s.empty() ? nullptr : s.c_str();
}

std::vector<char*> Argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

class CryptVerityVolume final : public VerityVolume {
 public:
  CryptVerityVolume(crypt_device* cd, std::string device) : cd_(cd), device_(std::move(device)) {}
  ~CryptVerityVolume() override { crypt_free(cd_); }
  CryptVerityVolume(const CryptVerityVolume&) = delete;
  CryptVerityVolume& operator=(const CryptVerityVolume&) = delete;

  Status Activate(const std::string& name, std::span<const uint8_t> root_hash,
                  uint32_t flags) override {
    int r = crypt_activate_by_volume_key(cd_, name.c_str(),
                                         reinterpret_cast<const char*>(root_hash.data()),
                                         root_hash.size(), flags);
    if (r < 0) {
      return Failf(ErrorKind::kIntegrity, "activate dm-verity for {}: {}", device_,
                   std::strerror(-r));
    }
    return {};
  }
  Status Deactivate(const std::string& name) override {
    int r = crypt_deactivate(cd_, name.c_str());
    if (r < 0) return Failf(ErrorKind::kIo, "deactivate {}: {}", name, std::strerror(-r));
    return {};
  }

 private:
  crypt_device* cd_;
  std::string device_;
};

class LinuxInitSystem final : public InitSystem {
 public:
  void Log(std::string_view line) override {
    const std::string text = fmt::format("basalt-init: {}\n", line);
    // The console and the kernel log each get the line, and each reports a failed write to
    // the other: there is no third place to say it. No /dev/kmsg at all (a run outside the
    // initramfs) is not a failure; the console has the line.
    const bool console_ok = WriteAll(STDERR_FILENO, text);
    const int console_errno = errno;
    int kmsg = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    if (kmsg < 0) return;
    const bool kmsg_ok = WriteAll(kmsg, "<5>" + text);
    const int kmsg_errno = errno;
    if (!console_ok) {
      WriteAll(kmsg, fmt::format("<4>basalt-init: console write of the line above failed: {}\n",
                                 std::strerror(console_errno)));
    }
    ::close(kmsg);
    if (!kmsg_ok) {
      WriteAll(STDERR_FILENO, fmt::format("basalt-init: kernel log write failed: {}\n",
                                          std::strerror(kmsg_errno)));
    }
  }

  void UseConsoleForStdio() override {
    // Without a console there is nowhere to report that there is none: output then goes
    // wherever the kernel pointed fds 0-2, as before this call.
    int console = ::open("/dev/console", O_RDWR | O_CLOEXEC);
    if (console < 0) return;
    for (int fd = 0; fd <= 2; fd++) {
      if (::dup2(console, fd) < 0) {
        Log(fmt::format("dup2 /dev/console to fd {}: {}", fd, std::strerror(errno)));
      }
    }
    if (console > 2) ::close(console);
  }

  Result<std::string> ReadKernelCmdline() override { return ReadFileToString("/proc/cmdline"); }

  int MakeDir(const std::string& path) override {
    return ::mkdir(path.c_str(), 0755) == 0 ? 0 : errno;
  }

  int Mount(const std::string& source, const std::string& target, const std::string& type,
            unsigned long flags, const std::string& data) override {
    return ::mount(source.c_str(), target.c_str(), OrNull(type), flags, OrNull(data)) == 0 ? 0
                                                                                           : errno;
  }

  std::string ModulesDir() override {
    // uname(2) fails only for a bad pointer.
    struct utsname uts {};
    ::uname(&uts);
    return fmt::format("/lib/modules/{}", uts.release);
  }

  int LoadModule(int fd, int flags) override {
    return ::syscall(SYS_finit_module, fd, "", flags) == 0 ? 0 : errno;
  }

  std::optional<std::string> FindDevice(const std::string& spec) override {
    blkid_cache cache = nullptr;
    if (blkid_get_cache(&cache, "/dev/null") != 0) return std::nullopt;
    char* dev = blkid_evaluate_spec(spec.c_str(), &cache);
    blkid_put_cache(cache);
    if (!dev) return std::nullopt;
    std::string out(dev);
    free(dev);
    if (::access(out.c_str(), F_OK) != 0) return std::nullopt;
    return out;
  }

  void Sleep(int milliseconds) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
  }

  // From sysfs: the partition's whole disk and its number.
  Result<PartitionOf> WholeDiskOf(const std::string& partition) override {
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
    return PartitionOf{fmt::format("/dev/{}", name),
                       static_cast<size_t>(std::strtoul(number.c_str(), nullptr, 10))};
  }

  Result<uint64_t> GrowPartitionToEnd(const std::string& disk_path, size_t number) override {
    BASALT_ASSIGN_OR_RETURN(disk::GptDisk disk, disk::GptDisk::Open(disk_path, true));
    BASALT_ASSIGN_OR_RETURN(uint64_t gained, disk.GrowToEnd(number));
    if (gained > 0) BASALT_RETURN_IF_ERROR(disk.Commit());
    return gained;
  }

  Status RereadPartitionTable(const std::string& disk) override {
    BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(disk, O_RDONLY));
    if (::ioctl(fd.get(), BLKRRPART) != 0) {
      return FailErrno(fmt::format("re-read partition table of {}", disk));
    }
    return {};
  }

  Result<std::unique_ptr<VerityVolume>> LoadVerity(const std::string& device,
                                                   uint64_t hash_offset) override {
    crypt_device* cd = nullptr;
    int rc = crypt_init_data_device(&cd, device.c_str(), device.c_str());
    if (rc < 0) return Failf(ErrorKind::kIo, "crypt_init {}: {}", device, std::strerror(-rc));
    auto volume = std::make_unique<CryptVerityVolume>(cd, device);
    crypt_params_verity params{};
    params.hash_area_offset = hash_offset;
    rc = crypt_load(cd, CRYPT_VERITY, &params);
    if (rc < 0) {
      return Failf(ErrorKind::kIntegrity, "load dm-verity superblock of {} at byte {}: {}", device,
                   hash_offset, std::strerror(-rc));
    }
    return std::unique_ptr<VerityVolume>(std::move(volume));
  }

  // /dev/mapper/NAME when libdevmapper made it; without udev, devtmpfs still has /dev/dm-N.
  Result<std::string> DmNode(const std::string& name) override {
    std::string mapper = "/dev/mapper/" + name;
    if (::access(mapper.c_str(), F_OK) == 0) return mapper;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/sys/block", ec)) {
      auto dm_name = ReadFileToString(entry.path().string() + "/dm/name");
      if (dm_name && *dm_name == name + "\n") return "/dev/" + entry.path().filename().string();
    }
    return Failf(ErrorKind::kNotFound, "dm device {} was created but has no device node", name);
  }

  Status RunTool(const std::vector<std::string>& argv) override {
    auto out = RunCommandOk(Command(argv));
    if (!out) return std::unexpected(out.error());
    return {};
  }

  bool IsExecutable(const std::string& path) override { return ::access(path.c_str(), X_OK) == 0; }
  bool IsExecutableFile(const std::string& path) override {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
  }

  Status RunAndWait(const std::vector<std::string>& args) override {
    std::vector<char*> argv = Argv(args);
    pid_t pid = ::fork();
    if (pid < 0) return FailErrno(fmt::format("start {}", args[0]));
    if (pid == 0) {
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    int status = 0;
    if (::waitpid(pid, &status, 0) < 0) return FailErrno(fmt::format("wait for {}", args[0]));
    return {};
  }

  int ChangeDir(const std::string& path) override { return ::chdir(path.c_str()) == 0 ? 0 : errno; }
  int ChangeRoot(const std::string& path) override {
    return ::chroot(path.c_str()) == 0 ? 0 : errno;
  }
  int Exec(const std::vector<std::string>& args) override {
    std::vector<char*> argv = Argv(args);
    ::execv(argv[0], argv.data());
    return errno;
  }

  void Reboot() override {
    ::sync();
    ::reboot(RB_AUTOBOOT);
    // reboot(2) only returns on error (not PID 1 in a test): never hang, exit instead.
    Log(fmt::format("reboot: {}; exiting", std::strerror(errno)));
    ::_exit(1);
  }
};

}  // namespace

std::unique_ptr<InitSystem> NewLinuxInitSystem() {
  return std::make_unique<LinuxInitSystem>();
}

}  // namespace basalt::init
