// A read-only parser of erofs filesystem images (as mkfs.erofs writes them), for reading files
// out of a /usr slot without mounting it and for mapping files to the blocks they occupy (the
// payload generator's file-aware deltas). The image is untrusted input: every offset, size and
// name is bounds-checked and a malformed image is refused with a message naming the problem.
//
// Supported: 4 KiB blocks; compact and extended inodes; FLAT_PLAIN, FLAT_INLINE (tail packed
// into the inode's metadata block) and CHUNK_BASED (block map or chunk indexes, holes) data;
// directories; symlinks; device/fifo/socket inodes; xattr bodies are skipped. Compressed files
// (lz4/lz4hc, COMPRESSED_FULL/COMPACT) are detected and listed (`compressed` = true) but their
// data cannot be read and their blocks are not mapped: they are opaque. Multi-device images
// are refused.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/error.h"
#include "common/fd.h"

namespace basalt::erofs {

inline constexpr uint32_t kBlockSize = 4096;

enum class DataLayout : uint8_t {
  kFlatPlain = 0,
  kCompressedFull = 1,
  kFlatInline = 2,
  kCompressedCompact = 3,
  kChunkBased = 4,
};

// `num_blocks` 4 KiB blocks of the image starting at `start_block` hold the file's blocks
// `file_block` .. `file_block + num_blocks - 1`. Blocks of the file not covered by any extent
// (chunk holes) read as zeros.
struct BlockExtent {
  uint64_t file_block = 0;
  uint64_t start_block = 0;
  uint64_t num_blocks = 0;
};

struct ErofsInode {
  uint64_t nid = 0;   // inode number as erofs addresses it (32-byte slot index)
  uint32_t mode = 0;  // st_mode: type and permission bits
  uint64_t size = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t mtime = 0;  // extended inodes only; compact inodes carry the build time (0 here)
  DataLayout layout = DataLayout::kFlatPlain;
  bool compressed = false;  // data not readable; `extents` and `inline_*` are empty
  // Where the data lives (regular files, directories, symlinks). The file's bytes are the
  // extents' blocks in file_block order, truncated to `size`, with the last partial part taken
  // from the inline tail when `inline_size` > 0 (then it starts at file offset
  // size - inline_size and lives at byte `inline_offset` of the image, inside a metadata
  // block).
  std::vector<BlockExtent> extents;
  uint64_t inline_offset = 0;
  uint32_t inline_size = 0;
  // Bytes of the image holding the inode itself (inode, xattrs, inline data or chunk index).
  uint64_t meta_offset = 0;
  uint64_t meta_size = 0;

  bool IsDirectory() const;
  bool IsRegular() const;
  bool IsSymlink() const;
};

// One entry of ForEachFile: every inode reachable from the root, once per path (hard links
// appear under each name with the same nid).
struct ErofsFile {
  std::string path;  // "/" for the root, else "/lib/modules/6.1.0-56-cloud-amd64/vmlinuz"
  ErofsInode inode;
};

struct ErofsSuperblock {
  uint64_t blocks = 0;  // filesystem size in 4 KiB blocks
  uint64_t meta_blkaddr = 0;
  uint64_t root_nid = 0;
  uint64_t inodes = 0;
  uint32_t feature_compat = 0;
  uint32_t feature_incompat = 0;
  uint64_t build_time = 0;
  uint8_t uuid[16] = {};
};

class ErofsImage {
 public:
  // Parses the superblock of the erofs image occupying bytes [offset, offset + size) of `fd`
  // (a slot block device or a usr.img file; the verity tree after the filesystem is ignored).
  // The fd is duplicated, so the caller may close its own.
  static Result<ErofsImage> Open(int fd, uint64_t offset, uint64_t size);

  const ErofsSuperblock& superblock() const { return sb_; }

  // Paths are absolute within the filesystem ("/lib/modules/x/vmlinuz"; the leading "/" is
  // optional). Symlinks are not followed (like lstat): a symlink in the middle of the path is
  // an error naming it.
  Result<ErofsInode> Lookup(std::string_view path) const;
  // The whole content of a regular file, refusing files larger than `max_size`.
  Result<std::string> ReadFile(std::string_view path, uint64_t max_size) const;
  Result<std::string> ReadFile(const ErofsInode& inode, uint64_t max_size) const;
  // The target of a symlink.
  Result<std::string> ReadLink(std::string_view path) const;

  // Walks the tree depth first, directory entries in on-disk (name) order, the root first.
  // Stops at and returns the first error of `fn` or of the walk.
  Status ForEachFile(const std::function<Status(const ErofsFile&)>& fn) const;

 private:
  ErofsImage(UniqueFd fd, uint64_t offset, uint64_t size, ErofsSuperblock sb)
      : fd_(std::move(fd)), offset_(offset), size_(size), sb_(sb) {}

  Status ReadAt(uint64_t pos, std::span<uint8_t> out, std::string_view what) const;
  Result<ErofsInode> ReadInode(uint64_t nid) const;
  Result<std::string> ReadData(const ErofsInode& inode, uint64_t max_size) const;
  struct DirEntry {
    std::string name;
    uint64_t nid;
  };
  Result<std::vector<DirEntry>> ReadDirectory(const ErofsInode& dir) const;
  Status Walk(const ErofsInode& dir, std::string& path, int depth,
              std::unordered_set<uint64_t>& visited,
              const std::function<Status(const ErofsFile&)>& fn) const;

  UniqueFd fd_;
  uint64_t offset_ = 0;
  uint64_t size_ = 0;
  ErofsSuperblock sb_;
};

}  // namespace basalt::erofs
