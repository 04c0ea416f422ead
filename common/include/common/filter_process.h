// Runs a program as a filter: input on its stdin, its stdout collected. For tools whose exact
// output matters and that no library reproduces (GNU gzip's deflate, see gzip_region.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace basalt {

// argv[0] is an absolute path (no PATH lookup: the program is chosen by the caller, not by the
// environment). Output beyond max_output bytes, a non-zero exit or a signal is an error naming
// the program, as is a program that neither reads nor writes for two minutes (it is killed).
// stderr is discarded, and the program gets an empty environment, so its output
// depends on the arguments alone (GZIP=-1 in a caller's environment changes gzip's, for one). The
// caller's SIGPIPE disposition is not touched: the input goes through a socket written with
// MSG_NOSIGNAL.
Result<std::vector<uint8_t>> RunFilter(const std::vector<std::string>& argv,
                                       std::span<const uint8_t> input, size_t max_output);

}  // namespace basalt
