#include "daemon/slot_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "erofs/erofs_image.h"

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

  Result<std::vector<std::string>> ListFiles(const std::string& prefix) override {
    std::vector<std::string> out;
    BASALT_RETURN_IF_ERROR(image_.ForEachFile([&](const erofs::ErofsFile& f) -> Status {
      if (f.inode.IsRegular() && f.path.starts_with(prefix)) out.push_back(f.path);
      return {};
    }));
    return out;
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

Result<std::string> FindKernelVersion(SlotFiles& files) {
  constexpr std::string_view kDir = "/lib/modules/";
  BASALT_ASSIGN_OR_RETURN(std::vector<std::string> paths, files.ListFiles(std::string(kDir)));
  std::vector<std::string> found;
  for (const auto& p : paths) {
    std::string_view rest = std::string_view(p).substr(kDir.size());
    auto slash = rest.find('/');
    if (slash != std::string_view::npos && slash > 0 && rest.substr(slash) == "/vmlinuz") {
      found.emplace_back(rest.substr(0, slash));
    }
  }
  if (found.size() != 1) {
    return Failf(ErrorKind::kInvalidInput,
                 "the new /usr must hold exactly one /lib/modules/<version>/vmlinuz; found {} ({})",
                 found.size(), fmt::join(found, ", "));
  }
  return found.front();
}

std::string SlotKernelPathInUsr(const std::string& kver) {
  return "/lib/modules/" + kver + "/vmlinuz";
}
std::string SlotInitrdPathInUsr(const std::string& kver) {
  return "/lib/modules/" + kver + "/initrd.img";
}

}  // namespace basalt::update
