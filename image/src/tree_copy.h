// Recreates a directory tree for staging with every piece of metadata the image must carry:
// owner, mode, xattrs (file capabilities included), symlinks, device nodes, fifos and hardlinks.
// While walking it also feeds a canonical listing into a hasher, which becomes the input digest.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/hash.h"

namespace basalt::image {

struct CopyOptions {
  // Hardlink regular files instead of copying them when src and dst share a filesystem. Only
  // for trees whose file timestamps do not matter (erofs gets one fixed timestamp).
  bool link_files = false;
  // With link_files: only link files whose mtime is <= clamp_mtime; newer ones are copied so
  // their time can be clamped without touching the source.
  bool link_only_unclamped = false;
  // Timestamps of created entries are set to min(source mtime, clamp_mtime).
  int64_t clamp_mtime = 0;
  // Device nodes and fifos: skipped (and counted) under /dev, refused anywhere else
  // (docs/hostile-inputs.md). Off for listings of trees we built ourselves.
  bool devices_only_under_dev = false;
  // Refuse once the regular files seen add up to more than this (--max-input-size).
  uint64_t max_file_bytes = UINT64_MAX;
};

struct CopyStats {
  uint64_t entries = 0;
  uint64_t file_bytes = 0;
  int64_t newest_mtime = 0;
  uint64_t skipped_devices = 0;
};

// Copies `src` (a directory, file or symlink) to `dst`, which must not exist. `listing_name` is
// the path recorded in the listing for src (e.g. "/usr"); entries are listed in byte order of
// their paths. `listing` may be null.
Status CopyTree(const std::string& src, const std::string& dst, const std::string& listing_name,
                const CopyOptions& options, Hasher* listing, CopyStats* stats);

// Clamps atime/mtime of every entry under `root` (not following symlinks) to at most `clamp`.
Status ClampTimes(const std::string& root, int64_t clamp);

// Listing of an existing tree (no copy), e.g. for the tests' tree comparisons.
Status ListTree(const std::string& root, const std::string& listing_name, Hasher* listing,
                CopyStats* stats);

}  // namespace basalt::image
