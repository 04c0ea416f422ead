#include "payload/codec.h"

#include <lzma.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_d_stableOutBuffer
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <memory>

namespace basalt::payload {
namespace {

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

// Window large enough that every byte of prefix + input can be referenced.
int WindowLogFor(size_t bytes) {
  int log = std::bit_width(std::max<size_t>(bytes, 1) - 1);
  return std::clamp(log, 10, 27);  // 27: 128 MiB, the decoder's limit below
}

constexpr uint64_t kXzMemLimit = 64ull << 20;

}  // namespace

Result<std::vector<uint8_t>> ZstdCompress(std::span<const uint8_t> input, int level,
                                          std::span<const uint8_t> prefix) {
  std::unique_ptr<ZSTD_CCtx, CCtxDeleter> cctx(ZSTD_createCCtx());
  if (!cctx) return Fail(ErrorKind::kInternal, "zstd: cannot allocate a compression context");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 0);
  if (!prefix.empty()) {
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog,
                           WindowLogFor(prefix.size() + input.size()));
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_enableLongDistanceMatching, 1);
    size_t rc = ZSTD_CCtx_refPrefix(cctx.get(), prefix.data(), prefix.size());
    if (ZSTD_isError(rc)) {
      return Failf(ErrorKind::kInternal, "zstd: refPrefix: {}", ZSTD_getErrorName(rc));
    }
  }
  std::vector<uint8_t> out(ZSTD_compressBound(input.size()));
  size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), input.data(), input.size());
  if (ZSTD_isError(n)) return Failf(ErrorKind::kInternal, "zstd: {}", ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

Status ZstdDecompressExact(std::span<const uint8_t> input, std::span<uint8_t> output,
                           std::span<const uint8_t> prefix) {
  ZstdDecoder decoder;
  return decoder.DecompressExact(input, output, prefix);
}

ZstdDecoder::ZstdDecoder() : dctx_(ZSTD_createDCtx()) {}
ZstdDecoder::~ZstdDecoder() {
  ZSTD_freeDCtx(dctx_);
}

Status ZstdDecoder::DecompressExact(std::span<const uint8_t> input, std::span<uint8_t> output,
                                    std::span<const uint8_t> prefix) {
  if (dctx_ == nullptr)
    return Fail(ErrorKind::kInternal, "zstd: cannot allocate a decompression context");
  ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_and_parameters);
  ZSTD_DCtx_setParameter(dctx_, ZSTD_d_windowLogMax, 27);
  // The output buffer is the whole destination and never moves, so zstd decodes straight into
  // it instead of through a window-sized internal buffer.
  ZSTD_DCtx_setParameter(dctx_, ZSTD_d_stableOutBuffer, 1);
  if (!prefix.empty()) {
    size_t rc = ZSTD_DCtx_refPrefix(dctx_, prefix.data(), prefix.size());
    if (ZSTD_isError(rc)) {
      return Failf(ErrorKind::kInternal, "zstd: refPrefix: {}", ZSTD_getErrorName(rc));
    }
  }
  // Streaming decode into the fixed output, so a frame cannot claim a larger size and make
  // us allocate; anything left over or missing is an error.
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  ZSTD_outBuffer out{output.data(), output.size(), 0};
  while (true) {
    const size_t in_before = in.pos, out_before = out.pos;
    size_t rc = ZSTD_decompressStream(dctx_, &out, &in);
    if (ZSTD_isError(rc)) {
      return Failf(ErrorKind::kInvalidInput, "zstd data: {}", ZSTD_getErrorName(rc));
    }
    if (rc == 0) break;  // frame complete
    if (in.pos == in_before && out.pos == out_before) {
      return Fail(ErrorKind::kInvalidInput, out.pos == out.size
                                                ? "zstd data decodes to more bytes than declared"
                                                : "zstd data is truncated");
    }
  }
  if (out.pos != output.size()) {
    return Failf(ErrorKind::kInvalidInput, "zstd data decodes to {} bytes, expected {}", out.pos,
                 output.size());
  }
  if (in.pos != in.size) {
    return Fail(ErrorKind::kInvalidInput, "trailing bytes after the zstd frame");
  }
  return {};
}

Result<std::vector<uint8_t>> XzCompress(std::span<const uint8_t> input, uint32_t preset) {
  std::vector<uint8_t> out(lzma_stream_buffer_bound(input.size()));
  size_t out_pos = 0;
  lzma_ret rc = lzma_easy_buffer_encode(preset, LZMA_CHECK_CRC32, nullptr, input.data(),
                                        input.size(), out.data(), &out_pos, out.size());
  if (rc != LZMA_OK)
    return Failf(ErrorKind::kInternal, "xz: encoder error {}", static_cast<int>(rc));
  out.resize(out_pos);
  return out;
}

Status XzDecompressExact(std::span<const uint8_t> input, std::span<uint8_t> output) {
  uint64_t memlimit = kXzMemLimit;
  size_t in_pos = 0, out_pos = 0;
  lzma_ret rc = lzma_stream_buffer_decode(&memlimit, 0, nullptr, input.data(), &in_pos,
                                          input.size(), output.data(), &out_pos, output.size());
  switch (rc) {
    case LZMA_OK:
      break;
    case LZMA_BUF_ERROR:
      return Fail(ErrorKind::kInvalidInput,
                  "xz data is truncated or decodes to more bytes than declared");
    case LZMA_MEMLIMIT_ERROR:
      return Fail(ErrorKind::kInvalidInput, "xz data needs more than 64 MiB to decode");
    case LZMA_FORMAT_ERROR:
      return Fail(ErrorKind::kInvalidInput, "xz data: not an xz stream");
    case LZMA_DATA_ERROR:
      return Fail(ErrorKind::kInvalidInput, "xz data is corrupt");
    default:
      return Failf(ErrorKind::kInvalidInput, "xz data: decoder error {}", static_cast<int>(rc));
  }
  if (out_pos != output.size()) {
    return Failf(ErrorKind::kInvalidInput, "xz data decodes to {} bytes, expected {}", out_pos,
                 output.size());
  }
  if (in_pos != input.size()) return Fail(ErrorKind::kInvalidInput, "trailing bytes after xz data");
  return {};
}

}  // namespace basalt::payload
