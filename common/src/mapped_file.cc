#include "common/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <utility>

#include "common/fd.h"

namespace basalt {

MappedFile::~MappedFile() {
  if (base_ != nullptr) ::munmap(base_, base_len_);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      base_len_(std::exchange(other.base_len_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (base_ != nullptr) ::munmap(base_, base_len_);
    base_ = std::exchange(other.base_, nullptr);
    base_len_ = std::exchange(other.base_len_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Result<MappedFile> MappedFile::Map(int fd, uint64_t offset, uint64_t length,
                                   std::string_view what) {
  MappedFile m;
  if (length == 0) return m;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t aligned = offset - offset % page;
  const uint64_t delta = offset - aligned;
  void* p = ::mmap(nullptr, length + delta, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(aligned));
  if (p == MAP_FAILED) return FailErrno(fmt::format("mmap {}", what));
  m.base_ = p;
  m.base_len_ = length + delta;
  m.data_ = static_cast<const uint8_t*>(p) + delta;
  m.size_ = length;
  return m;
}

Result<MappedFile> MappedFile::MapWholeFile(const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  BASALT_ASSIGN_OR_RETURN(uint64_t size, FileOrDeviceSize(fd.get(), path));
  return Map(fd.get(), 0, size, path);
}

}  // namespace basalt
