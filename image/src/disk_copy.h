// Moving filesystem images into disk.img and hashing it, both sparse-aware: the partitions of a
// fresh image are mostly holes, and reading or writing them as zeros would cost gigabytes.
#pragma once

#include <cstdint>
#include <future>
#include <string>
#include <string_view>
#include <thread>

#include "common/error.h"
#include "common/hash.h"

namespace basalt::image {

// Copies the data extents of `src` into `disk_fd` at `offset`, leaving holes as holes. With `h`,
// the whole of src (holes as zeros) is hashed on the way.
Status CopyIntoDisk(const std::string& src, int disk_fd, uint64_t offset, Hasher* h);

// Feeds [start, end) of fd into h; holes are fed from a zero buffer instead of being read.
Status HashRange(int fd, uint64_t start, uint64_t end, Hasher& h, std::string_view what);

// Hashes disk.img on a second thread while the remaining partitions are built: the part up to
// `split` as soon as it is written, the rest once Finish() says it is.
class DiskDigest {
 public:
  DiskDigest(std::string path, uint64_t split, uint64_t size);
  ~DiskDigest();
  DiskDigest(const DiskDigest&) = delete;
  DiskDigest& operator=(const DiskDigest&) = delete;

  // The SHA-256 (hex) of the whole disk; call once, when everything after `split` is written.
  Result<std::string> Finish();

 private:
  Result<std::string> Run();

  std::string path_;
  uint64_t split_, size_;
  std::promise<bool> rest_ready_;
  Result<std::string> result_ = std::string();
  std::thread thread_;
};

}  // namespace basalt::image
