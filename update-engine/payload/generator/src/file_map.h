// The file view of an erofs image that file-aware deltas work on: which image blocks hold
// each file's data, and which old file a new file most likely evolved from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"

namespace basalt::payload {

struct FileBlocks {
  std::string path;
  std::vector<uint64_t> blocks;  // image blocks holding the file's data, in file order
  uint64_t size = 0;             // bytes
  bool regular = false;          // a regular file (not a directory or symlink)
  // erofs FLAT_INLINE: the last inline_size bytes of the file live at image byte
  // inline_offset, inside a metadata block, not in `blocks`.
  uint64_t inline_offset = 0;
  uint32_t inline_size = 0;
};

// Every inode with block data (regular files, directories, long symlinks), and every regular
// file kept wholly inline in metadata (no blocks), once per inode (the first path in walk
// order). Compressed files are left out: their blocks are opaque and
// get diffed with the filesystem metadata. `fs_size` bytes of `image_path` are the erofs.
Result<std::vector<FileBlocks>> ListFileBlocks(const std::string& image_path, uint64_t fs_size);

// "/lib/modules/6.1.0-50-cloud-amd64/kernel/x.ko" ->
// "/lib/modules/#.#.#-#-cloud-amd64/kernel/x.ko": every run of digits becomes '#', so kernel,
// soname and package versions compare equal.
std::string VersionlessPath(std::string_view path);

// Maps a new file to the old file it most likely evolved from: the same path; else the same
// path with version numbers changed; else the same basename. Among several candidates the one
// closest in size wins (then the smallest path, so the choice is a pure function of inputs).
class FileMatcher {
 public:
  explicit FileMatcher(const std::vector<FileBlocks>& old_files);
  // Index into old_files, or -1.
  int64_t Match(const FileBlocks& new_file) const;

 private:
  int64_t Best(const std::vector<size_t>& candidates, uint64_t blocks) const;

  const std::vector<FileBlocks>& old_;
  std::unordered_map<std::string, size_t> by_path_;
  std::unordered_map<std::string, std::vector<size_t>> by_versionless_;
  std::unordered_map<std::string, std::vector<size_t>> by_basename_;
};

}  // namespace basalt::payload
