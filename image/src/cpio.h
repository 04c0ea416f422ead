// A reproducible "newc" (SVR4, no CRC) cpio writer for the initramfs: entries are written in the
// order given, with inode numbers counted from 1, one fixed mtime, and owner/mode as given, so
// nothing of the build host leaks in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::image {

class CpioWriter {
 public:
  explicit CpioWriter(int64_t mtime) : mtime_(mtime) {}

  // Paths are relative ("usr/bin/sh"); parents must be added before children.
  void AddDirectory(std::string_view path, uint32_t mode = 0755, uint32_t uid = 0,
                    uint32_t gid = 0);
  void AddFile(std::string_view path, std::string_view data, uint32_t mode = 0644, uint32_t uid = 0,
               uint32_t gid = 0);
  void AddSymlink(std::string_view path, std::string_view target);
  void AddCharDevice(std::string_view path, uint32_t mode, uint32_t major, uint32_t minor);

  // Appends the trailer and returns the archive.
  std::string Finish();

 private:
  void AddEntry(std::string_view path, uint32_t mode, uint32_t uid, uint32_t gid, uint32_t nlink,
                std::string_view data, uint32_t rmajor, uint32_t rminor);

  int64_t mtime_;
  uint32_t next_ino_ = 1;
  std::string out_;
};

}  // namespace basalt::image
