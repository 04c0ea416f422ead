#include "payload/bspatch.h"

#include <bzlib.h>
#include <lzma.h>

#include <cstring>
#include <limits>
#include <vector>

#include "payload/codec.h"

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

// One bzip2 stream held in memory. ReadSome returns fewer bytes than asked only at its end.
class Bz2Stream {
 public:
  Bz2Stream(std::span<const uint8_t> data, const char* name) : name_(name) {
    std::memset(&strm_, 0, sizeof(strm_));
    ok_ = BZ2_bzDecompressInit(&strm_, 0, 0) == BZ_OK;
    strm_.next_in = const_cast<char*>(reinterpret_cast<const char*>(data.data()));
    strm_.avail_in = static_cast<unsigned>(data.size());
  }
  ~Bz2Stream() {
    if (ok_) BZ2_bzDecompressEnd(&strm_);
  }
  Bz2Stream(const Bz2Stream&) = delete;
  Bz2Stream& operator=(const Bz2Stream&) = delete;

  const char* name() const { return name_; }
  size_t unread_input() const { return strm_.avail_in; }

  Result<size_t> ReadSome(uint8_t* out, size_t n) {
    if (!ok_) return Failf(ErrorKind::kInternal, "bsdiff: cannot initialise bzip2 for {}", name_);
    size_t done = 0;
    while (done < n && !ended_) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      strm_.next_out = reinterpret_cast<char*>(out + done);
      strm_.avail_out = chunk;
      const int rc = BZ2_bzDecompress(&strm_);
      const size_t produced = chunk - strm_.avail_out;
      done += produced;
      if (rc == BZ_STREAM_END) {
        ended_ = true;
      } else if (rc != BZ_OK) {
        return Failf(ErrorKind::kInvalidInput, "bsdiff patch: {} block is corrupt bzip2 data",
                     name_);
      } else if (produced == 0 && strm_.avail_in == 0) {
        return Failf(ErrorKind::kInvalidInput, "bsdiff patch: {} block is truncated", name_);
      }
    }
    return done;
  }

 private:
  bz_stream strm_;
  const char* name_;
  bool ok_ = false;
  bool ended_ = false;
};

// One xz stream held in memory (BSDIFFXZ blocks); the same contract as Bz2Stream.
class XzStream {
 public:
  XzStream(std::span<const uint8_t> data, const char* name) : name_(name) {
    ok_ = lzma_stream_decoder(&strm_, kMemLimit, 0) == LZMA_OK;
    strm_.next_in = data.data();
    strm_.avail_in = data.size();
  }
  ~XzStream() { lzma_end(&strm_); }
  XzStream(const XzStream&) = delete;
  XzStream& operator=(const XzStream&) = delete;

  const char* name() const { return name_; }
  size_t unread_input() const { return strm_.avail_in; }

  Result<size_t> ReadSome(uint8_t* out, size_t n) {
    if (!ok_) return Failf(ErrorKind::kInternal, "bsdiff: cannot initialise xz for {}", name_);
    size_t done = 0;
    // A zero-byte read returns at once without calling liblzma, which answers LZMA_BUF_ERROR
    // when asked twice to make progress with no room for output.
    while (done < n && !ended_) {
      strm_.next_out = out + done;
      strm_.avail_out = n - done;
      const lzma_ret rc = lzma_code(&strm_, strm_.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
      const size_t produced = n - done - strm_.avail_out;
      done += produced;
      if (rc == LZMA_STREAM_END) {
        ended_ = true;
      } else if (rc == LZMA_MEMLIMIT_ERROR) {
        return Failf(ErrorKind::kInvalidInput, "bsdiff patch: {} block needs over 64 MiB to decode",
                     name_);
      } else if (rc != LZMA_OK) {
        return Failf(ErrorKind::kInvalidInput, "bsdiff patch: {} block is corrupt xz data ({})",
                     name_, static_cast<int>(rc));
      } else if (produced == 0 && strm_.avail_in == 0) {
        return Failf(ErrorKind::kInvalidInput, "bsdiff patch: {} block is truncated", name_);
      }
    }
    return done;
  }

 private:
  static constexpr uint64_t kMemLimit = 64ull << 20;
  lzma_stream strm_ = LZMA_STREAM_INIT;
  const char* name_;
  bool ok_ = false;
  bool ended_ = false;
};

template <typename Stream>
Status ReadExactly(Stream& s, uint8_t* out, size_t n) {
  BASALT_ASSIGN_OR_RETURN(size_t got, s.ReadSome(out, n));
  if (got != n) {
    return Failf(ErrorKind::kInvalidInput, "bsdiff patch: {} block too short", s.name());
  }
  return {};
}

// After the last control entry each block must be used up: no decoded bytes left over and no
// bytes after its stream.
template <typename Stream>
Status ExpectEnd(Stream& s) {
  uint8_t b;
  BASALT_ASSIGN_OR_RETURN(size_t got, s.ReadSome(&b, 1));
  if (got != 0) {
    return Failf(ErrorKind::kInvalidInput, "bsdiff patch: {} block holds unused data", s.name());
  }
  if (s.unread_input() != 0) {
    return Failf(ErrorKind::kInvalidInput, "bsdiff patch: bytes after the {} block's stream",
                 s.name());
  }
  return {};
}

void OffOut(int64_t v, uint8_t* p) {
  uint64_t mag = v < 0 ? static_cast<uint64_t>(-v) : static_cast<uint64_t>(v);
  if (v < 0) mag |= 1ull << 63;
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<uint8_t>(mag >> (8 * i));
}

Result<std::vector<uint8_t>> Bz2DecodeAll(std::span<const uint8_t> data, const char* name) {
  Bz2Stream r(data, name);
  std::vector<uint8_t> out;
  // The decoded size is not recorded in BSDIFF40; grow until the stream ends.
  size_t have = 0;
  size_t want = std::max<size_t>(data.size() * 4, 1 << 16);
  while (true) {
    out.resize(have + want);
    auto s = r.ReadSome(out.data() + have, want);
    if (!s) return std::unexpected(s.error());
    have += *s;
    if (*s < want) break;
    want *= 2;
  }
  out.resize(have);
  return out;
}

template <typename Stream>
Status Patch(std::span<const uint8_t> old_data, std::span<const uint8_t> patch,
             std::span<uint8_t> output, const char* magic) {
  if (patch.size() < kHeaderSize || std::memcmp(patch.data(), magic, 8) != 0) {
    return Failf(ErrorKind::kInvalidInput, "bsdiff patch: bad header (expected {})", magic);
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
  Stream ctrl(patch.subspan(kHeaderSize, ctrl_len), "control");
  Stream diff(patch.subspan(kHeaderSize + ctrl_len, diff_len), "diff");
  Stream extra(patch.subspan(kHeaderSize + ctrl_len + diff_len), "extra");

  const int64_t old_size = static_cast<int64_t>(old_data.size());
  int64_t old_pos = 0;
  int64_t new_pos = 0;
  constexpr int64_t kLimit = int64_t{1} << 60;
  while (new_pos < new_size) {
    uint8_t buf[24];
    BASALT_RETURN_IF_ERROR(ReadExactly(ctrl, buf, sizeof(buf)));
    const int64_t add = OffIn(buf), copy = OffIn(buf + 8), seek = OffIn(buf + 16);
    if (add < 0 || copy < 0 || add > new_size - new_pos) {
      return Fail(ErrorKind::kInvalidInput, "bsdiff patch: control entry out of range");
    }
    BASALT_RETURN_IF_ERROR(ReadExactly(diff, output.data() + new_pos, static_cast<size_t>(add)));
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
    BASALT_RETURN_IF_ERROR(ReadExactly(extra, output.data() + new_pos, static_cast<size_t>(copy)));
    new_pos += copy;
    if (seek > kLimit || seek < -kLimit || old_pos > kLimit || old_pos < -kLimit) {
      return Fail(ErrorKind::kInvalidInput, "bsdiff patch: seek out of range");
    }
    old_pos += seek;
  }
  BASALT_RETURN_IF_ERROR(ExpectEnd(ctrl));
  BASALT_RETURN_IF_ERROR(ExpectEnd(diff));
  return ExpectEnd(extra);
}

}  // namespace

Status ApplyBsdiff(std::span<const uint8_t> old_data, std::span<const uint8_t> patch,
                   std::span<uint8_t> output) {
  return Patch<Bz2Stream>(old_data, patch, output, "BSDIFF40");
}

Status ApplyBsdiffXz(std::span<const uint8_t> old_data, std::span<const uint8_t> patch,
                     std::span<uint8_t> output) {
  return Patch<XzStream>(old_data, patch, output, "BSDIFFXZ");
}

Result<std::vector<uint8_t>> BsdiffToXz(std::span<const uint8_t> patch, uint32_t preset) {
  if (patch.size() < kHeaderSize || std::memcmp(patch.data(), "BSDIFF40", 8) != 0) {
    return Fail(ErrorKind::kInvalidInput, "bsdiff patch: bad header (expected BSDIFF40)");
  }
  const int64_t ctrl_len = OffIn(patch.data() + 8);
  const int64_t diff_len = OffIn(patch.data() + 16);
  const uint64_t body = patch.size() - kHeaderSize;
  if (ctrl_len < 0 || diff_len < 0 || static_cast<uint64_t>(ctrl_len) > body ||
      static_cast<uint64_t>(diff_len) > body - static_cast<uint64_t>(ctrl_len)) {
    return Fail(ErrorKind::kInvalidInput, "bsdiff patch: block lengths exceed the patch");
  }
  const std::span<const uint8_t> blocks[3] = {patch.subspan(kHeaderSize, ctrl_len),
                                              patch.subspan(kHeaderSize + ctrl_len, diff_len),
                                              patch.subspan(kHeaderSize + ctrl_len + diff_len)};
  const char* names[3] = {"control", "diff", "extra"};
  std::vector<uint8_t> xz[3];
  for (int i = 0; i < 3; ++i) {
    BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> raw, Bz2DecodeAll(blocks[i], names[i]));
    BASALT_ASSIGN_OR_RETURN(xz[i], XzCompress(raw, preset));
  }
  std::vector<uint8_t> out(kHeaderSize);
  std::memcpy(out.data(), "BSDIFFXZ", 8);
  OffOut(static_cast<int64_t>(xz[0].size()), out.data() + 8);
  OffOut(static_cast<int64_t>(xz[1].size()), out.data() + 16);
  std::memcpy(out.data() + 24, patch.data() + 24, 8);  // new size
  for (auto& b : xz)
    out.insert(out.end(), b.begin(), b.end());
  return out;
}

}  // namespace basalt::payload
