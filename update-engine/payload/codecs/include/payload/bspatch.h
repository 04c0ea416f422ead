// The bsdiff patch formats: BSDIFF40 (as Debian's `bsdiff` writes it: a 32-byte header and
// three bzip2 streams of control triples, diff bytes and extra bytes) and BSDIFFXZ, the same
// with the magic "BSDIFFXZ" and xz streams, which are ~17% smaller on recompiled code (the diff
// stream is mostly small byte deltas that LZMA models better than bzip2's BWT).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/error.h"

namespace basalt::payload {

// Applies patch to old, writing exactly output.size() bytes; the patch's declared new size
// must equal it.
Status ApplyBsdiff(std::span<const uint8_t> old_data, std::span<const uint8_t> patch,
                   std::span<uint8_t> output);
Status ApplyBsdiffXz(std::span<const uint8_t> old_data, std::span<const uint8_t> patch,
                     std::span<uint8_t> output);

// Generator side: the BSDIFFXZ form of a BSDIFF40 patch (same control, diff and extra bytes).
Result<std::vector<uint8_t>> BsdiffToXz(std::span<const uint8_t> patch, uint32_t preset);

}  // namespace basalt::payload
