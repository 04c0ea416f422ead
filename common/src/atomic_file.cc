#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "common/fd.h"

namespace basalt {

Status FsyncDirectory(const std::string& dir) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) return FailErrno(fmt::format("fsync directory {}", dir));
  return {};
}

Status FsyncFile(const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  if (::fsync(fd.get()) != 0) return FailErrno(fmt::format("fsync {}", path));
  return {};
}

Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> data, mode_t mode) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  std::string tmpl = (std::filesystem::path(dir) / ("." + p.filename().string() + ".tmpXXXXXX"));
  int raw = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (raw < 0) return FailErrno(fmt::format("create temp file for {}", path));
  UniqueFd fd(raw);
  auto cleanup_on_error = [&](Error e) {
    ::unlink(tmpl.c_str());
    return std::unexpected(std::move(e).WithContext(fmt::format("write {}", path)));
  };
  if (::fchmod(fd.get(), mode) != 0) return cleanup_on_error(Error::FromErrno("fchmod"));
  if (auto s = WriteFull(fd.get(), data, tmpl); !s) return cleanup_on_error(s.error());
  if (::fsync(fd.get()) != 0) return cleanup_on_error(Error::FromErrno("fsync"));
  fd.Reset();
  if (::rename(tmpl.c_str(), path.c_str()) != 0)
    return cleanup_on_error(Error::FromErrno("rename"));
  return FsyncDirectory(dir);
}

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  return WriteFileAtomic(
      path, std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()), mode);
}

}  // namespace basalt
