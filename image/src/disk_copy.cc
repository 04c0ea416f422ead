#include "disk_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <span>
#include <vector>

#include "common/fd.h"
#include "common/hex.h"
#include "common/run_catching.h"

namespace basalt::image {

Status CopyIntoDisk(const std::string& src, int disk_fd, uint64_t offset, Hasher* h) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd in, OpenFile(src, O_RDONLY));
  struct stat st;
  if (fstat(in.get(), &st) != 0) return FailErrno("fstat " + src);
  off_t end = st.st_size;
  off_t pos = 0;
  std::vector<uint8_t> buf(1 << 20);
  while (pos < end) {
    off_t data = lseek(in.get(), pos, SEEK_DATA);
    if (data < 0) {
      if (errno != ENXIO) return FailErrno("lseek " + src);
      data = end;  // only a hole remains
    }
    if (h != nullptr) {
      static const std::vector<uint8_t> kZeros(1 << 20, 0);
      for (off_t z = pos; z < data;) {
        size_t n =
            static_cast<size_t>(std::min<off_t>(data - z, static_cast<off_t>(kZeros.size())));
        h->Update(std::span<const uint8_t>(kZeros.data(), n));
        z += static_cast<off_t>(n);
      }
    }
    if (data >= end) break;
    off_t hole = lseek(in.get(), data, SEEK_HOLE);
    if (hole < 0) return FailErrno("lseek " + src);
    for (off_t p = data; p < hole;) {
      size_t n = static_cast<size_t>(std::min<off_t>(hole - p, static_cast<off_t>(buf.size())));
      BASALT_RETURN_IF_ERROR(PreadFull(in.get(), {buf.data(), n}, static_cast<uint64_t>(p), src));
      if (h != nullptr) h->Update(std::span<const uint8_t>(buf.data(), n));
      BASALT_RETURN_IF_ERROR(
          PwriteFull(disk_fd, {buf.data(), n}, offset + static_cast<uint64_t>(p), "disk.img"));
      p += static_cast<off_t>(n);
    }
    pos = hole;
  }
  return {};
}

Status HashRange(int fd, uint64_t start, uint64_t end, Hasher& h, std::string_view what) {
  static const std::vector<uint8_t> kZeros(1 << 20, 0);
  std::vector<uint8_t> buf(1 << 20);
  uint64_t pos = start;
  while (pos < end) {
    off_t data = lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno != ENXIO) return FailErrno(fmt::format("lseek {}", what));
    uint64_t data_start = data < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(data), end);
    while (pos < data_start) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kZeros.size(), data_start - pos));
      h.Update(std::span<const uint8_t>(kZeros.data(), n));
      pos += n;
    }
    if (pos >= end) break;
    off_t hole = lseek(fd, static_cast<off_t>(pos), SEEK_HOLE);
    if (hole < 0) return FailErrno(fmt::format("lseek {}", what));
    uint64_t data_end = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    while (pos < data_end) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), data_end - pos));
      BASALT_RETURN_IF_ERROR(PreadFull(fd, {buf.data(), n}, pos, what));
      h.Update(std::span<const uint8_t>(buf.data(), n));
      pos += n;
    }
  }
  return {};
}

DiskDigest::DiskDigest(std::string path, uint64_t split, uint64_t size)
    : path_(std::move(path)), split_(split), size_(size) {
  thread_ = std::thread([this] { result_ = RunCatching("disk digest", [this] { return Run(); }); });
}

DiskDigest::~DiskDigest() {
  if (thread_.joinable()) {
    rest_ready_.set_value(false);
    thread_.join();
  }
}

Result<std::string> DiskDigest::Finish() {
  rest_ready_.set_value(true);
  thread_.join();
  return result_;
}

Result<std::string> DiskDigest::Run() {
  std::future<bool> rest = rest_ready_.get_future();
  auto fd = OpenFile(path_, O_RDONLY);
  if (!fd) return std::unexpected(fd.error());
  Hasher h(HashAlgorithm::kSha256);
  BASALT_RETURN_IF_ERROR(HashRange(fd->get(), 0, split_, h, path_));
  if (!rest.get()) return Fail(ErrorKind::kInternal, "cancelled");
  BASALT_RETURN_IF_ERROR(HashRange(fd->get(), split_, size_, h, path_));
  return ToHex(h.Final());
}

}  // namespace basalt::image
