#include "image/initramfs_stage.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/fd.h"

namespace basalt::boot {

Status StageInitramfs(const std::vector<InitramfsEntry>& plan, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Failf(ErrorKind::kIo, "mkdir {}: {}", dir, ec.message());
  for (const InitramfsEntry& e : plan) {
    std::string path = dir + "/" + e.path;
    switch (e.kind) {
      case InitramfsEntry::Kind::kDirectory:
        if (::mkdir(path.c_str(), e.mode) != 0 && errno != EEXIST) {
          return FailErrno("mkdir " + path);
        }
        break;
      case InitramfsEntry::Kind::kFile: {
        std::string data = e.data;
        if (e.source.size()) {
          BASALT_ASSIGN_OR_RETURN(data, ReadFileToString(e.source));
        }
        BASALT_RETURN_IF_ERROR(WriteFileAtomic(path, data, e.mode));
        break;
      }
      case InitramfsEntry::Kind::kSymlink:
        if (::symlink(e.data.c_str(), path.c_str()) != 0) return FailErrno("symlink " + path);
        break;
      case InitramfsEntry::Kind::kCharDevice:
        if (::mknod(path.c_str(), S_IFCHR | e.mode, makedev(e.major, e.minor)) != 0) {
          return FailErrno("mknod " + path);
        }
        break;
    }
  }
  return {};
}

}  // namespace basalt::boot
