#include "common/fd.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace basalt {

void UniqueFd::Reset(int fd) {
  // close(2) errors after a successful fsync carry no information we could act on.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return FailErrno(fmt::format("open {}", path));
  return UniqueFd(fd);
}

Result<size_t> ReadUpTo(int fd, std::span<uint8_t> buf, std::string_view what) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno(fmt::format("read {}", what));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status ReadFull(int fd, std::span<uint8_t> buf, std::string_view what) {
  BASALT_ASSIGN_OR_RETURN(size_t n, ReadUpTo(fd, buf, what));
  if (n != buf.size()) {
    return Failf(ErrorKind::kInvalidInput, "read {}: unexpected end of file after {} of {} bytes",
                 what, n, buf.size());
  }
  return {};
}

Status PreadFull(int fd, std::span<uint8_t> buf, uint64_t offset, std::string_view what) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno(fmt::format("read {} at offset {}", what, offset + done));
    }
    if (n == 0) {
      return Failf(ErrorKind::kInvalidInput,
                   "read {}: unexpected end of file at offset {} (wanted {} bytes from {})", what,
                   offset + done, buf.size(), offset);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Status WriteFull(int fd, std::span<const uint8_t> buf, std::string_view what) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno(fmt::format("write {}", what));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Status PwriteFull(int fd, std::span<const uint8_t> buf, uint64_t offset, std::string_view what) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        ::pwrite(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno(fmt::format("write {} at offset {}", what, offset + done));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<uint64_t> FileOrDeviceSize(int fd, std::string_view what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return FailErrno(fmt::format("stat {}", what));
  if (S_ISBLK(st.st_mode)) {
    uint64_t size = 0;
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) {
      return FailErrno(fmt::format("BLKGETSIZE64 {}", what));
    }
    return size;
  }
  if (!S_ISREG(st.st_mode)) {
    return Failf(ErrorKind::kInvalidInput, "{}: not a regular file or block device", what);
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<std::string> ReadFileToString(const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  std::string out;
  uint8_t chunk[65536];
  for (;;) {
    BASALT_ASSIGN_OR_RETURN(size_t n, ReadUpTo(fd.get(), chunk, path));
    out.append(reinterpret_cast<const char*>(chunk), n);
    if (n < sizeof(chunk)) break;
  }
  return out;
}

}  // namespace basalt
