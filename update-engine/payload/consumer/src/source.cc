#include "payload/source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace basalt::payload {

Status PayloadSource::Skip(uint64_t n) {
  std::vector<uint8_t> buf(std::min<uint64_t>(n, 1 << 20));
  while (n > 0) {
    BASALT_ASSIGN_OR_RETURN(size_t got,
                            Read(std::span(buf.data(), std::min<uint64_t>(n, buf.size()))));
    if (got == 0) return Fail(ErrorKind::kInvalidInput, "payload ends before the resume offset");
    n -= got;
  }
  return {};
}

Result<std::unique_ptr<FilePayloadSource>> FilePayloadSource::Open(const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return FailErrno("stat " + path);
  std::optional<uint64_t> size;
  if (S_ISREG(st.st_mode)) {  // a pipe (e.g. /dev/stdin) streams with an unknown size
    size = static_cast<uint64_t>(st.st_size);
    posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  return std::unique_ptr<FilePayloadSource>(new FilePayloadSource(std::move(fd), path, size));
}

Result<size_t> FilePayloadSource::Read(std::span<uint8_t> buf) {
  BASALT_ASSIGN_OR_RETURN(size_t n, ReadUpTo(fd_.get(), buf, path_));
  pos_ += n;
  return n;
}

Status FilePayloadSource::Skip(uint64_t n) {
  if (!size_) return PayloadSource::Skip(n);
  if (lseek(fd_.get(), static_cast<off_t>(n), SEEK_CUR) < 0) return FailErrno("seek " + path_);
  pos_ += n;
  return {};
}

Result<size_t> MemoryPayloadSource::Read(std::span<uint8_t> buf) {
  size_t n = std::min(buf.size(), data_.size() - pos_);
  if (n > 0) std::memcpy(buf.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

Status ReadExact(PayloadSource& src, std::span<uint8_t> buf, uint64_t offset,
                 std::string_view what) {
  size_t done = 0;
  while (done < buf.size()) {
    BASALT_ASSIGN_OR_RETURN(size_t n, src.Read(buf.subspan(done)));
    if (n == 0) {
      return Failf(ErrorKind::kInvalidInput,
                   "payload truncated: it ends at byte {} while reading {} ({} of {} bytes)",
                   offset + done, what, done, buf.size());
    }
    done += n;
  }
  return {};
}

}  // namespace basalt::payload
