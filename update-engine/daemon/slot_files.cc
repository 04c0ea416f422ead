#include "update-engine/daemon/slot_files.h"

#include <fcntl.h>
#include <fmt/format.h>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "image/erofs/erofs_image.h"

namespace basalt::update {
namespace {

// Reads with our own erofs parser (image/erofs), straight from the verified slot: no mount, no
// extraction of the whole /usr to disk, and every offset bounds-checked.
class ErofsSlotFiles : public SlotFiles {
 public:
  ErofsSlotFiles(std::string device, erofs::ErofsImage image)
      : device_(std::move(device)), image_(std::move(image)) {}

  Status CopyOut(const std::string& path, uint64_t max_size, const std::string& dest) override {
    auto data = image_.ReadFile(path, max_size);
    if (!data) {
      return std::unexpected(
          std::move(data).error().WithContext(fmt::format("read {} from {}", path, device_)));
    }
    return WriteFileAtomic(dest, *data, 0644);
  }

 private:
  std::string device_;
  erofs::ErofsImage image_;
};

}  // namespace

Result<std::unique_ptr<SlotFiles>> OpenErofsSlotFiles(const std::string& device,
                                                      const std::string& /*scratch_dir*/) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(device, O_RDONLY | O_CLOEXEC));
  BASALT_ASSIGN_OR_RETURN(uint64_t size, FileOrDeviceSize(fd.get(), device));
  auto image = erofs::ErofsImage::Open(fd.get(), 0, size);
  if (!image) return std::unexpected(std::move(image).error().WithContext("open the new /usr"));
  return std::make_unique<ErofsSlotFiles>(device, std::move(*image));
}

std::string SlotKernelPathInUsr(const std::string& kver) {
  return "/lib/modules/" + kver + "/vmlinuz";
}
std::string SlotInitrdPathInUsr(const std::string& kver) {
  return "/lib/modules/" + kver + "/initrd.img";
}

}  // namespace basalt::update
