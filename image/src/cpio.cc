#include "cpio.h"

#include <fmt/format.h>
#include <sys/stat.h>

namespace basalt::image {

void CpioWriter::AddEntry(std::string_view path, uint32_t mode, uint32_t uid, uint32_t gid,
                          uint32_t nlink, std::string_view data, uint32_t rmajor, uint32_t rminor) {
  out_ += fmt::format(
      "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
      next_ino_++, mode, uid, gid, nlink, static_cast<uint32_t>(mtime_),
      static_cast<uint32_t>(data.size()), 0, 0, rmajor, rminor,
      static_cast<uint32_t>(path.size() + 1), 0);
  out_.append(path);
  out_.push_back('\0');
  out_.resize((out_.size() + 3) & ~size_t{3}, '\0');
  out_.append(data);
  out_.resize((out_.size() + 3) & ~size_t{3}, '\0');
}

void CpioWriter::AddDirectory(std::string_view path, uint32_t mode, uint32_t uid, uint32_t gid) {
  AddEntry(path, S_IFDIR | (mode & 07777), uid, gid, 2, {}, 0, 0);
}

void CpioWriter::AddFile(std::string_view path, std::string_view data, uint32_t mode, uint32_t uid,
                         uint32_t gid) {
  AddEntry(path, S_IFREG | (mode & 07777), uid, gid, 1, data, 0, 0);
}

void CpioWriter::AddSymlink(std::string_view path, std::string_view target) {
  AddEntry(path, S_IFLNK | 0777, 0, 0, 1, target, 0, 0);
}

void CpioWriter::AddCharDevice(std::string_view path, uint32_t mode, uint32_t major,
                               uint32_t minor) {
  AddEntry(path, S_IFCHR | (mode & 07777), 0, 0, 1, {}, major, minor);
}

std::string CpioWriter::Finish() {
  next_ino_ = 0;
  mtime_ = 0;
  AddEntry("TRAILER!!!", 0, 0, 0, 1, {}, 0, 0);
  return std::move(out_);
}

}  // namespace basalt::image
