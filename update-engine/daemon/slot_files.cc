#include "update-engine/daemon/slot_files.h"

#include <sys/stat.h>

#include <filesystem>

#include "bootloader/subprocess.h"

namespace basalt::update {
namespace {

namespace fs = std::filesystem;

// Interim reader until the in-tree erofs reader lands: fsck.erofs (erofs-utils) checks the image
// and extracts it into a scratch directory, once, on first use.
class FsckErofsSlotFiles : public SlotFiles {
 public:
  FsckErofsSlotFiles(std::string device, std::string scratch)
      : device_(std::move(device)), scratch_(std::move(scratch)) {}

  Status CopyOut(const std::string& path, uint64_t max_size, const std::string& dest) override {
    if (!extracted_) {
      std::error_code ec;
      fs::remove_all(scratch_, ec);
      fs::create_directories(scratch_, ec);
      if (ec) return Failf(ErrorKind::kIo, "create {}: {}", scratch_, ec.message());
      auto r = boot::RunCommandOk(
          {"fsck.erofs", "--extract=" + scratch_, "--no-preserve", "--overwrite", device_});
      if (!r) return std::unexpected(std::move(r).error().WithContext("read the new /usr"));
      extracted_ = true;
    }
    std::string local = scratch_ + path;
    std::error_code ec;
    auto st = fs::symlink_status(local, ec);
    if (ec || !fs::is_regular_file(st)) {
      return Failf(ErrorKind::kNotFound, "{} is not a regular file in the new /usr", path);
    }
    uint64_t size = fs::file_size(local, ec);
    if (size > max_size) {
      return Failf(ErrorKind::kInvalidInput, "{} in the new /usr is {} bytes, more than {}", path,
                   size, max_size);
    }
    fs::copy_file(local, dest, fs::copy_options::overwrite_existing, ec);
    if (ec) return Failf(ErrorKind::kIo, "copy {} to {}: {}", path, dest, ec.message());
    return {};
  }

  ~FsckErofsSlotFiles() override {
    std::error_code ec;
    fs::remove_all(scratch_, ec);
  }

 private:
  std::string device_;
  std::string scratch_;
  bool extracted_ = false;
};

}  // namespace

Result<std::unique_ptr<SlotFiles>> OpenErofsSlotFiles(const std::string& device,
                                                      const std::string& scratch_dir) {
  return std::make_unique<FsckErofsSlotFiles>(device, scratch_dir + "/usr-extract");
}

std::string SlotKernelPathInUsr(const std::string& kver) {
  return "/lib/modules/" + kver + "/vmlinuz";
}
std::string SlotInitrdPathInUsr(const std::string& kver) {
  return "/lib/modules/" + kver + "/initrd.img";
}

}  // namespace basalt::update
