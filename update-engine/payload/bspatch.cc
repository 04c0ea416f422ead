#include "update-engine/payload/bspatch.h"

#include <bzlib.h>

#include <cstring>
#include <limits>

namespace basalt::payload {
namespace {

constexpr size_t kHeaderSize = 32;

int64_t OffIn(const uint8_t* p) {
  uint64_t mag = 0;
  for (int i = 7; i >= 0; --i)
    mag = (mag << 8) | p[i];
  const bool negative = (mag >> 63) != 0;
  mag &= ~(1ull << 63);
  return negative ? -static_cast<int64_t>(mag) : static_cast<int64_t>(mag);
}

// Reads exact byte counts out of one bzip2 stream held in memory.
class Bz2Reader {
 public:
  Bz2Reader(std::span<const uint8_t> data, const char* name) : name_(name) {
    std::memset(&strm_, 0, sizeof(strm_));
    ok_ = BZ2_bzDecompressInit(&strm_, 0, 0) == BZ_OK;
    strm_.next_in = const_cast<char*>(reinterpret_cast<const char*>(data.data()));
    strm_.avail_in = static_cast<unsigned>(data.size());
  }
  ~Bz2Reader() {
    if (ok_) BZ2_bzDecompressEnd(&strm_);
  }
  Bz2Reader(const Bz2Reader&) = delete;
  Bz2Reader& operator=(const Bz2Reader&) = delete;

  Status Read(uint8_t* out, size_t n) {
    if (!ok_) return Failf(ErrorKind::kInternal, "bsdiff: cannot initialise bzip2 for {}", name_);
    while (n > 0) {
      if (ended_) return Failf(ErrorKind::kInvalidInput, "bsdiff patch: {} block too short", name_);
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
      strm_.next_out = reinterpret_cast<char*>(out);
      strm_.avail_out = chunk;
      int rc = BZ2_bzDecompress(&strm_);
      size_t produced = chunk - strm_.avail_out;
      out += produced;
      n -= produced;
      if (rc == BZ_STREAM_END) {
        ended_ = true;
      } else if (rc != BZ_OK) {
        return Failf(ErrorKind::kInvalidInput, "bsdiff patch: {} block is corrupt bzip2 data",
                     name_);
      } else if (produced == 0 && strm_.avail_in == 0) {
        return Failf(ErrorKind::kInvalidInput, "bsdiff patch: {} block is truncated", name_);
      }
    }
    return {};
  }

 private:
  bz_stream strm_;
  const char* name_;
  bool ok_ = false;
  bool ended_ = false;
};

}  // namespace

Status ApplyBsdiff(std::span<const uint8_t> old_data, std::span<const uint8_t> patch,
                   std::span<uint8_t> output) {
  if (patch.size() < kHeaderSize || std::memcmp(patch.data(), "BSDIFF40", 8) != 0) {
    return Fail(ErrorKind::kInvalidInput, "bsdiff patch: bad header (expected BSDIFF40)");
  }
  const int64_t ctrl_len = OffIn(patch.data() + 8);
  const int64_t diff_len = OffIn(patch.data() + 16);
  const int64_t new_size = OffIn(patch.data() + 24);
  const uint64_t body = patch.size() - kHeaderSize;
  if (ctrl_len < 0 || diff_len < 0 || static_cast<uint64_t>(ctrl_len) > body ||
      static_cast<uint64_t>(diff_len) > body - static_cast<uint64_t>(ctrl_len)) {
    return Fail(ErrorKind::kInvalidInput, "bsdiff patch: block lengths exceed the patch");
  }
  if (new_size < 0 || static_cast<uint64_t>(new_size) != output.size()) {
    return Failf(ErrorKind::kInvalidInput, "bsdiff patch: new size {} differs from expected {}",
                 new_size, output.size());
  }
  Bz2Reader ctrl(patch.subspan(kHeaderSize, ctrl_len), "control");
  Bz2Reader diff(patch.subspan(kHeaderSize + ctrl_len, diff_len), "diff");
  Bz2Reader extra(patch.subspan(kHeaderSize + ctrl_len + diff_len), "extra");

  const int64_t old_size = static_cast<int64_t>(old_data.size());
  int64_t old_pos = 0;
  int64_t new_pos = 0;
  constexpr int64_t kLimit = int64_t{1} << 60;
  while (new_pos < new_size) {
    uint8_t buf[24];
    BASALT_RETURN_IF_ERROR(ctrl.Read(buf, sizeof(buf)));
    const int64_t add = OffIn(buf), copy = OffIn(buf + 8), seek = OffIn(buf + 16);
    if (add < 0 || copy < 0 || add > new_size - new_pos) {
      return Fail(ErrorKind::kInvalidInput, "bsdiff patch: control entry out of range");
    }
    BASALT_RETURN_IF_ERROR(diff.Read(output.data() + new_pos, static_cast<size_t>(add)));
    for (int64_t i = 0; i < add; ++i) {
      if (old_pos + i >= 0 && old_pos + i < old_size) {
        output[new_pos + i] = static_cast<uint8_t>(output[new_pos + i] + old_data[old_pos + i]);
      }
    }
    new_pos += add;
    old_pos += add;
    if (copy > new_size - new_pos) {
      return Fail(ErrorKind::kInvalidInput, "bsdiff patch: extra length out of range");
    }
    BASALT_RETURN_IF_ERROR(extra.Read(output.data() + new_pos, static_cast<size_t>(copy)));
    new_pos += copy;
    if (seek > kLimit || seek < -kLimit || old_pos > kLimit || old_pos < -kLimit) {
      return Fail(ErrorKind::kInvalidInput, "bsdiff patch: seek out of range");
    }
    old_pos += seek;
  }
  return {};
}

}  // namespace basalt::payload
