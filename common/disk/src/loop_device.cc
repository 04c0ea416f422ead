#include "disk/loop_device.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

namespace basalt::disk {

Result<LoopDevice> LoopDevice::Attach(const std::string& file, uint64_t offset, uint64_t size,
                                      bool read_only) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd backing, OpenFile(file, read_only ? O_RDONLY : O_RDWR));
  BASALT_ASSIGN_OR_RETURN(UniqueFd control, OpenFile("/dev/loop-control", O_RDWR));
  // Another process may take the free device between the two calls: try again.
  for (int attempt = 0; attempt < 16; ++attempt) {
    int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return FailErrno("LOOP_CTL_GET_FREE");
    std::string path = fmt::format("/dev/loop{}", n);
    BASALT_ASSIGN_OR_RETURN(UniqueFd dev, OpenFile(path, read_only ? O_RDONLY : O_RDWR));
    loop_config cfg;
    std::memset(&cfg, 0, sizeof cfg);
    cfg.fd = static_cast<uint32_t>(backing.get());
    cfg.info.lo_offset = offset;
    cfg.info.lo_sizelimit = size;
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
    std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), file.c_str(), LO_NAME_SIZE - 1);
    if (::ioctl(dev.get(), LOOP_CONFIGURE, &cfg) == 0) {
      return LoopDevice(path, std::move(dev));
    }
    if (errno != EBUSY) {
      return FailErrno(
          fmt::format("attach {} (offset {}, {} bytes) to {}", file, offset, size, path));
    }
  }
  return Fail(ErrorKind::kIo, "no free loop device after 16 attempts");
}

}  // namespace basalt::disk
