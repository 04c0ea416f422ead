// Owning file descriptor and the whole-buffer read/write loops that every caller otherwise
// rewrites.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "common/error.h"

namespace basalt {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added; errors name the path.
Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode = 0644);

// Loops over short reads/writes and EINTR. ReadFull/PreadFull fail on early EOF with a message
// giving the offset, so truncated inputs are reported as such rather than as garbage.
Status ReadFull(int fd, std::span<uint8_t> buf, std::string_view what);
Status PreadFull(int fd, std::span<uint8_t> buf, uint64_t offset, std::string_view what);
Status WriteFull(int fd, std::span<const uint8_t> buf, std::string_view what);
Status PwriteFull(int fd, std::span<const uint8_t> buf, uint64_t offset, std::string_view what);

// Reads up to buf.size() bytes, stopping only at EOF; returns how many were read.
Result<size_t> ReadUpTo(int fd, std::span<uint8_t> buf, std::string_view what);

// Size of a regular file or a block device (BLKGETSIZE64).
Result<uint64_t> FileOrDeviceSize(int fd, std::string_view what);

Result<std::string> ReadFileToString(const std::string& path);

}  // namespace basalt
