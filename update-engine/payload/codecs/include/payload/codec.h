// The compressors and decoders behind the payload operations. Decoders write exactly into a
// caller-sized buffer and fail if the data would produce more or fewer bytes, so a malicious
// blob can never make the applier allocate or write more than the manifest declared.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/error.h"

typedef struct ZSTD_DCtx_s ZSTD_DCtx;

namespace basalt::payload {

// One zstd frame. A non-empty prefix is referenced as a raw-content dictionary
// (ZSTD_CCtx_refPrefix), with long-distance matching over prefix + input.
Result<std::vector<uint8_t>> ZstdCompress(std::span<const uint8_t> input, int level,
                                          std::span<const uint8_t> prefix = {});
Status ZstdDecompressExact(std::span<const uint8_t> input, std::span<uint8_t> output,
                           std::span<const uint8_t> prefix = {});

// A reusable decompression context: the applier decodes thousands of frames, and a context per
// frame would reallocate its tables each time.
class ZstdDecoder {
 public:
  ZstdDecoder();
  ~ZstdDecoder();
  ZstdDecoder(const ZstdDecoder&) = delete;
  ZstdDecoder& operator=(const ZstdDecoder&) = delete;
  Status DecompressExact(std::span<const uint8_t> input, std::span<uint8_t> output,
                         std::span<const uint8_t> prefix = {});

 private:
  ZSTD_DCtx* dctx_;
};

// One xz stream (CRC32 check).
Result<std::vector<uint8_t>> XzCompress(std::span<const uint8_t> input, uint32_t preset);
Status XzDecompressExact(std::span<const uint8_t> input, std::span<uint8_t> output);

}  // namespace basalt::payload
