// Debian's `bsdiff` (BSDIFF40 patches, as SOURCE_BSDIFF applies them), run on temporary files
// for the generator's worker threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/log.h"

namespace basalt::payload {

class BsdiffRunner {
 public:
  // Temporary files go to `tmpdir`.
  BsdiffRunner(std::string tmpdir, Logger& log) : tmpdir_(std::move(tmpdir)), log_(log) {}

  // The patch from `old_data` to `new_data`; empty when there is none. `slot` keeps the files
  // of concurrent calls apart. Thread-safe.
  std::vector<uint8_t> Diff(std::span<const uint8_t> old_data, std::span<const uint8_t> new_data,
                            size_t slot);

 private:
  // A bsdiff that cannot run (not installed, failed, no room for its files) only loses a
  // candidate: the zstd patch is always tried, so the payload stays correct, just larger. It is
  // logged, but once per kind of failure: the same cause would repeat for every segment.
  void NoCandidate(std::string_view step, const Error& error);

  const std::string tmpdir_;
  Logger& log_;
  std::mutex mu_;
  std::set<std::string> logged_;  // the kinds of failure already logged
};

}  // namespace basalt::payload
