// Opening the data and hash files of a tree, which may be one file (Flatcar layout) or two.
// Internal to basalt_verity.
#pragma once

#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "verity/verity.h"

namespace basalt::verity {

struct TreeFiles {
  UniqueFd data;
  UniqueFd hash_owned;  // invalid when the tree shares the data file
  std::string data_name;
  std::string hash_name;
  bool shared = false;  // same inode, even if named by two paths
  uint64_t data_size = 0;
  uint64_t hash_size = 0;
  bool hash_is_block_device = false;
  // Regular data files are read through a mapping (no copy); devices with pread, so a media
  // error is an error message naming the offset rather than SIGBUS.
  bool data_is_regular_file = false;

  int hash_fd() const { return shared ? data.get() : hash_owned.get(); }
};

// writable: open the hash side for writing (created if it is a new separate file).
Result<TreeFiles> OpenTreeFiles(const std::string& data_path, const std::string& hash_path,
                                bool writable);

// The hash area [hash_offset, hash_offset + size) must not overlap the data when they share a
// file.
Status CheckNoOverlap(const TreeFiles& files, const VerityParams& params,
                      const TreeGeometry& geometry);

}  // namespace basalt::verity
