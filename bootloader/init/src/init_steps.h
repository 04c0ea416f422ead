// The steps of basalt-init, each small and separately reportable, each doing its system work
// through an InitSystem (init_system.h) so unit tests run them against a fake. RunInit
// (init_run.h) runs them in order and turns the first failure into one clear line and the
// configured policy (reboot or shell).
#pragma once

#include <string>

#include "cmdline.h"
#include "common/error.h"
#include "init_system.h"

namespace basalt::init {

inline constexpr char kSysroot[] = "/sysroot";

// /proc, /sys, /dev (devtmpfs) and /run; then stdio onto /dev/console.
Status MountEarlyFilesystems(InitSystem& sys);
// Loads every module listed in <ModulesDir>/modules.dep, dependencies first. Modules that the
// kernel refuses (e.g. no such hardware) are logged, not fatal. Returns how many it loaded.
Result<int> LoadInitramfsModules(InitSystem& sys);
// Waits up to `timeout_ms` for a device matching a blkid spec (PARTUUID=..., /dev/...).
Result<std::string> WaitForDevice(InitSystem& sys, const std::string& spec, int timeout_ms);
// Extends the partition to the end of its disk and has the kernel re-read the table. Returns
// the bytes gained; 0 when it already ends at the disk's end (then nothing is written).
Result<uint64_t> GrowPartitionToDiskEnd(InitSystem& sys, const std::string& partition);
// Opens `device` as dm-verity device "usr" with the root hash from the command line; the hash
// area starts where the erofs image ends (rounded up to 4 KiB) unless the command line says
// otherwise. Returns the dm device's node.
Result<std::string> OpenVerityUsr(InitSystem& sys, const std::string& device,
                                  const InitConfig& config);
// ROOT read-write on /sysroot, /usr read-only (and nodev) on /sysroot/usr.
Status MountRootAndUsr(InitSystem& sys, const std::string& root_device,
                       const std::string& usr_device, const InitConfig& config);
// Online resize2fs of the mounted ROOT when its filesystem is smaller than its partition.
Status GrowRootFilesystem(InitSystem& sys, const std::string& root_device);
// Moves /dev, /proc, /sys, /run into the new root, makes it / and execs init. With the real
// system it returns only on failure.
Status SwitchRootAndExec(InitSystem& sys, const InitConfig& config);

}  // namespace basalt::init
