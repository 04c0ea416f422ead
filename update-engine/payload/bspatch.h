// Applier for the BSDIFF40 patch format (as written by Debian's `bsdiff`): a 32-byte header
// and three bzip2 streams (control triples, diff bytes, extra bytes).
#pragma once

#include <cstdint>
#include <span>

#include "common/error.h"

namespace basalt::payload {

// Applies patch to old, writing exactly output.size() bytes; the patch's declared new size
// must equal it.
Status ApplyBsdiff(std::span<const uint8_t> old_data, std::span<const uint8_t> patch,
                   std::span<uint8_t> output);

}  // namespace basalt::payload
