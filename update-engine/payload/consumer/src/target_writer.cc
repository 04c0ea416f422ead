#include "target_writer.h"

#include <fcntl.h>

#include <algorithm>
#include <vector>

#include "common/fd.h"

namespace basalt::payload {

Status TargetWriter::Write(const Extents& extents, std::span<const uint8_t> data) {
  size_t pos = 0;
  for (const auto& e : extents) {
    auto part = data.subspan(pos, e.num_blocks() * kBlockSize);
    BASALT_RETURN_IF_ERROR(WriteAt(e.start_block() * kBlockSize, part));
    pos += part.size();
  }
  return {};
}

Status TargetWriter::WriteZeros(const Extents& extents) {
  static const std::vector<uint8_t> kZeros(1 << 20, 0);
  for (const auto& e : extents) {
    uint64_t off = e.start_block() * kBlockSize;
    uint64_t left = e.num_blocks() * kBlockSize;
    while (left > 0) {
      auto part =
          std::span(kZeros.data(), static_cast<size_t>(std::min<uint64_t>(left, kZeros.size())));
      BASALT_RETURN_IF_ERROR(WriteAt(off, part));
      off += part.size();
      left -= part.size();
    }
  }
  return {};
}

Status TargetWriter::WriteAt(uint64_t offset, std::span<const uint8_t> data) {
  BASALT_RETURN_IF_ERROR(PwriteFull(fd_, data, offset, path_));
  StartWriteback(offset, data.size());
  hasher_.Wrote(offset, data);
  return {};
}

// Starts the kernel writing back each few MiB as soon as they are written, so the disk works
// while we decode and the final fsync waits only for the tail. Without it nothing is written
// until the fsync (dirty_background_ratio is far above a slot's size): on the benchmark (a
// file target) the median apply went from 0.74 s to 0.69 s. Regular files only: on a loop
// device the same kick made the apply slower (0.85 s -> 1.2-1.4 s; the loop worker writes the
// backing file on our CPUs and the submission blocks), and it is unmeasured on real disks.
void TargetWriter::StartWriteback(uint64_t off, uint64_t len) {
  constexpr uint64_t kWritebackBatch = 8ull << 20;
  if (!is_file_) return;
  if (unflushed_end_ == 0) {
    unflushed_begin_ = off;
    unflushed_end_ = off + len;
  } else {
    unflushed_begin_ = std::min(unflushed_begin_, off);
    unflushed_end_ = std::max(unflushed_end_, off + len);
  }
  if (unflushed_end_ - unflushed_begin_ < kWritebackBatch) return;
  // Advisory: a failure only loses the overlap of decoding and writeback; the final fsync
  // still writes everything and reports any real I/O error.
  (void)sync_file_range(fd_, static_cast<off_t>(unflushed_begin_),
                        static_cast<off_t>(unflushed_end_ - unflushed_begin_),
                        SYNC_FILE_RANGE_WRITE);
  unflushed_end_ = 0;
}

}  // namespace basalt::payload
