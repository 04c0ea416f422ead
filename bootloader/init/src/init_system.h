// What basalt-init asks of the system, behind one interface: mounts, module loading, device
// lookup (libblkid), the ROOT partition grow (libfdisk), dm-verity activation (libcryptsetup),
// resize2fs, the emergency shell, the switch to the real root and reboot. The steps
// (init_steps.h) hold every decision and run against this, so unit tests drive them with a fake
// (tests/unit/boot/fake_init_system.h), under ASan too, which cannot run as PID 1. Plain reads
// of a device's contents (superblocks, sizes: fs_size.h) stay plain reads; tests give files.
//
// Calls that wrap one system call return its errno (0 on success), so a step words the
// failure itself, as it did before the interface existed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::init {

// One dm-verity superblock loaded from a device (libcryptsetup's crypt_device).
class VerityVolume {
 public:
  virtual ~VerityVolume() = default;
  // A dm device `name` mapping the data through verity with `root_hash`; `flags` are
  // libcryptsetup's CRYPT_ACTIVATE_* bits, as crypt_activate_by_volume_key takes them.
  virtual Status Activate(const std::string& name, std::span<const uint8_t> root_hash,
                          uint32_t flags) = 0;
  virtual Status Deactivate(const std::string& name) = 0;
};

struct PartitionOf {
  std::string disk;   // the whole disk's node, "/dev/vda"
  size_t number = 0;  // 1-based partition number
};

class InitSystem {
 public:
  virtual ~InitSystem() = default;

  // One line on the console and in the kernel log, prefixed "basalt-init: ".
  virtual void Log(std::string_view line) = 0;

  // --- Early userspace ---
  // stdin, stdout and stderr onto /dev/console (the kernel may start PID 1 without them).
  virtual void UseConsoleForStdio() = 0;
  virtual Result<std::string> ReadKernelCmdline() = 0;             // /proc/cmdline
  [[nodiscard]] virtual int MakeDir(const std::string& path) = 0;  // mkdir(2), mode 0755
  // mount(2); an empty `type` or `data` is passed as NULL.
  [[nodiscard]] virtual int Mount(const std::string& source, const std::string& target,
                                  const std::string& type, unsigned long flags,
                                  const std::string& data) = 0;
  // /lib/modules/<running kernel release>.
  virtual std::string ModulesDir() = 0;
  // finit_module(2) of the open module file.
  [[nodiscard]] virtual int LoadModule(int fd, int flags) = 0;

  // --- Devices ---
  // The device node a blkid spec (PARTUUID=..., PARTLABEL=..., /dev/...) names, if it exists
  // now; nullopt otherwise.
  virtual std::optional<std::string> FindDevice(const std::string& spec) = 0;
  virtual void Sleep(int milliseconds) = 0;
  virtual Result<PartitionOf> WholeDiskOf(const std::string& partition) = 0;
  // Extends the partition to the end of the disk in the GPT (libfdisk, backup GPT moved to the
  // end) and writes the table. Returns the bytes gained; 0, and nothing written, when the
  // partition already ends there.
  virtual Result<uint64_t> GrowPartitionToEnd(const std::string& disk, size_t number) = 0;
  virtual Status RereadPartitionTable(const std::string& disk) = 0;  // BLKRRPART
  // The dm-verity superblock at `hash_offset` of `device`, ready to activate.
  virtual Result<std::unique_ptr<VerityVolume>> LoadVerity(const std::string& device,
                                                           uint64_t hash_offset) = 0;
  // The node of dm device `name`: /dev/mapper/NAME, or /dev/dm-N without udev.
  virtual Result<std::string> DmNode(const std::string& name) = 0;
  // Runs a tool (resize2fs) and waits; a non-zero exit is an error.
  virtual Status RunTool(const std::vector<std::string>& argv) = 0;

  // --- Handing over, or giving up ---
  virtual bool IsExecutable(const std::string& path) = 0;
  // A regular file with execute permission, the last component not a symlink (lstat).
  virtual bool IsExecutableFile(const std::string& path) = 0;
  // Runs argv[0] (a path) with argv as a child and waits for it to exit.
  virtual Status RunAndWait(const std::vector<std::string>& argv) = 0;
  [[nodiscard]] virtual int ChangeDir(const std::string& path) = 0;   // chdir(2)
  [[nodiscard]] virtual int ChangeRoot(const std::string& path) = 0;  // chroot(2)
  // execv(2): the real one returns only on failure, with its errno.
  [[nodiscard]] virtual int Exec(const std::vector<std::string>& argv) = 0;
  // sync(2) and reboot(2). The real one does not return: if reboot fails (not PID 1) it exits,
  // so basalt-init never waits without a bound.
  virtual void Reboot() = 0;
};

// The system itself.
std::unique_ptr<InitSystem> NewLinuxInitSystem();

}  // namespace basalt::init
