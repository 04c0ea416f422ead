#include "image/initramfs_stage.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

#include "common/root_dir.h"

namespace basalt::boot {
namespace {

// The directory to create `path`'s last component in, reached without following any link, and
// that component's name.
Result<std::pair<UniqueFd, std::string>> ParentOf(const RootDir& out, const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(std::string clean, CleanRelativePath(path, out.what()));
  size_t slash = clean.rfind('/');
  std::string dir = slash == std::string::npos ? "." : clean.substr(0, slash);
  std::string name = slash == std::string::npos ? clean : clean.substr(slash + 1);
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, out.OpenAt(dir, O_PATH | O_DIRECTORY, Follow::kNever));
  return std::pair<UniqueFd, std::string>(std::move(fd), std::move(name));
}

}  // namespace

Status StageInitramfs(const std::vector<InitramfsEntry>& plan, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Failf(ErrorKind::kIo, "mkdir {}: {}", dir, ec.message());
  // Every entry is created below `dir` through fds: a path from the plan (module paths come from
  // the tree's modules.dep) can never place a file outside it.
  BASALT_ASSIGN_OR_RETURN(RootDir out, RootDir::Open(dir, "initramfs output " + dir));
  for (const InitramfsEntry& e : plan) {
    switch (e.kind) {
      case InitramfsEntry::Kind::kDirectory:
        BASALT_RETURN_IF_ERROR(out.MakeDirs(e.path, e.mode));
        break;
      case InitramfsEntry::Kind::kFile:
        BASALT_RETURN_IF_ERROR(out.ReplaceFile(e.path, e.data, e.mode));
        break;
      case InitramfsEntry::Kind::kSymlink: {
        BASALT_ASSIGN_OR_RETURN(auto parent, ParentOf(out, e.path));
        if (::symlinkat(e.data.c_str(), parent.first.get(), parent.second.c_str()) != 0) {
          return FailErrno(fmt::format("{}: symlink {}", out.what(), e.path));
        }
        break;
      }
      case InitramfsEntry::Kind::kCharDevice: {
        BASALT_ASSIGN_OR_RETURN(auto parent, ParentOf(out, e.path));
        if (::mknodat(parent.first.get(), parent.second.c_str(), S_IFCHR | e.mode,
                      makedev(e.major, e.minor)) != 0) {
          return FailErrno(fmt::format("{}: mknod {}", out.what(), e.path));
        }
        break;
      }
    }
  }
  return {};
}

}  // namespace basalt::boot
