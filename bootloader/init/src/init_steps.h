// The steps of basalt-init, each small and separately reportable. main() runs them in order and
// turns the first failure into one clear line and the configured policy (reboot or shell).
#pragma once

#include <string>

#include "cmdline.h"
#include "common/error.h"

namespace basalt::init {

inline constexpr char kSysroot[] = "/sysroot";

void LogLine(std::string_view line);  // console and kernel log

Status MountEarlyFilesystems();
// Loads every module listed in /lib/modules/<running kernel>/modules.dep, dependencies first.
// Modules that the kernel refuses (e.g. no such hardware) are logged, not fatal.
Result<int> LoadInitramfsModules();
// Waits up to `timeout_ms` for a device matching a blkid spec (PARTUUID=..., /dev/...).
Result<std::string> WaitForDevice(const std::string& spec, int timeout_ms);
// Extends the partition to the end of its disk (libfdisk) and has the kernel re-read the
// table. Returns the bytes gained; 0 when it already ends at the disk's end.
Result<uint64_t> GrowPartitionToDiskEnd(const std::string& partition);
// Opens `device` as dm-verity device "usr" with the root hash from the command line; the hash
// area starts where the erofs image ends unless the command line says otherwise.
Result<std::string> OpenVerityUsr(const std::string& device, const InitConfig& config);
Status MountRootAndUsr(const std::string& root_device, const std::string& usr_device,
                       const InitConfig& config);
// Online resize2fs of the mounted ROOT when its filesystem is smaller than its partition.
Status GrowRootFilesystem(const std::string& root_device);
// Moves /dev, /proc, /sys, /run into the new root, makes it / and execs init. Returns only on
// failure.
Status SwitchRootAndExec(const InitConfig& config);

[[noreturn]] void FailAndStop(std::string_view step, const Error& error, FailurePolicy policy);

}  // namespace basalt::init
