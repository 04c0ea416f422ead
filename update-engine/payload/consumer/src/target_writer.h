// Writes operations' output into the target slot: their destination extents in order, zero
// fills from a shared buffer, writeback started early on regular files, and every written byte
// handed to the partition hasher.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/error.h"
#include "in_order_hasher.h"
#include "payload/format.h"

namespace basalt::payload {

using Extents = google::protobuf::RepeatedPtrField<proto::Extent>;

class TargetWriter {
 public:
  // `fd` (opened read-write on `path`) and `hasher` outlive the writer. `is_file`: the target
  // is a regular file, not a block device.
  TargetWriter(int fd, std::string path, bool is_file, InOrderHasher& hasher)
      : fd_(fd), path_(std::move(path)), is_file_(is_file), hasher_(hasher) {}

  // `data` holds exactly the extents' blocks, in extent order.
  Status Write(const Extents& extents, std::span<const uint8_t> data);
  Status WriteZeros(const Extents& extents);

 private:
  Status WriteAt(uint64_t offset, std::span<const uint8_t> data);
  void StartWriteback(uint64_t off, uint64_t len);

  int fd_;
  std::string path_;
  bool is_file_;
  InOrderHasher& hasher_;
  // The range written since writeback was last started; empty when end == 0.
  uint64_t unflushed_begin_ = 0, unflushed_end_ = 0;
};

}  // namespace basalt::payload
