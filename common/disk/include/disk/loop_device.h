// A byte range of a disk image file exposed as a block device (/dev/loopN), so offline updates
// drive exactly the code path of a host: the applier and the verity engine write a partition
// device. The device is created with autoclear, so the kernel detaches it when the last user
// closes it — also when the process is killed, which the crash tests do a hundred times.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"
#include "common/fd.h"

namespace basalt::disk {

class LoopDevice {
 public:
  static Result<LoopDevice> Attach(const std::string& file, uint64_t offset, uint64_t size,
                                   bool read_only);
  LoopDevice(LoopDevice&&) = default;
  LoopDevice& operator=(LoopDevice&&) = default;
  const std::string& path() const { return path_; }

 private:
  LoopDevice(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;  // held open: closing the last fd detaches the device (autoclear)
};

}  // namespace basalt::disk
