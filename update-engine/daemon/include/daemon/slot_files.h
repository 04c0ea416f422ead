// Reads files out of a slot's verified /usr image without mounting it: the kernel and
// initramfs that finalize copies onto the ESP. Behind an interface so the flow does not care how
// erofs is read, and unit tests can hand in files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"

namespace basalt::update {

class SlotFiles {
 public:
  virtual ~SlotFiles() = default;
  // Copies `path` (absolute inside /usr's filesystem, e.g. "/lib/modules/6.1/vmlinuz") to the
  // local file `dest`. kNotFound when absent; kInvalidInput when larger than max_size.
  virtual Status CopyOut(const std::string& path, uint64_t max_size, const std::string& dest) = 0;
  // Regular files whose path starts with `prefix` (e.g. "/lib/modules/"), for finding the kernel
  // version when the update source did not name it (Omaha).
  virtual Result<std::vector<std::string>> ListFiles(const std::string& prefix) {
    return Failf(ErrorKind::kUnsupported, "cannot list {} in this slot", prefix);
  }
};

// The one kernel version whose vmlinuz is in the slot: "/lib/modules/<kver>/vmlinuz". Several or
// none is an error naming them.
Result<std::string> FindKernelVersion(SlotFiles& files);

// The slot's erofs image at the start of `device` (a partition or loop device).
Result<std::unique_ptr<SlotFiles>> OpenErofsSlotFiles(const std::string& device,
                                                      const std::string& scratch_dir);

// Where the kernel and initramfs of kernel version kver live inside the usr image (whose root is
// /usr): "/lib/modules/<kver>/vmlinuz" and ".../initrd.img".
std::string SlotKernelPathInUsr(const std::string& kver);
std::string SlotInitrdPathInUsr(const std::string& kver);

}  // namespace basalt::update
