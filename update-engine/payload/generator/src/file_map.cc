#include "file_map.h"

#include <fcntl.h>

#include <algorithm>
#include <unordered_set>

#include "common/fd.h"
#include "erofs/erofs_image.h"

namespace basalt::payload {

Result<std::vector<FileBlocks>> ListFileBlocks(const std::string& image_path, uint64_t fs_size) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(image_path, O_RDONLY));
  BASALT_ASSIGN_OR_RETURN(erofs::ErofsImage image, erofs::ErofsImage::Open(fd.get(), 0, fs_size));
  std::vector<FileBlocks> files;
  std::unordered_set<uint64_t> seen;
  auto st = image.ForEachFile([&](const erofs::ErofsFile& f) -> Status {
    if (f.inode.compressed) return {};
    if (f.inode.extents.empty() && (f.inode.inline_size == 0 || !f.inode.IsRegular())) return {};
    if (!seen.insert(f.inode.nid).second) return {};  // a hard link of a listed inode
    FileBlocks fb;
    fb.path = f.path;
    fb.size = f.inode.size;
    fb.regular = f.inode.IsRegular();
    fb.inline_offset = f.inode.inline_offset;
    fb.inline_size = f.inode.inline_size;
    for (const erofs::BlockExtent& e : f.inode.extents) {
      for (uint64_t i = 0; i < e.num_blocks; ++i)
        fb.blocks.push_back(e.start_block + i);
    }
    files.push_back(std::move(fb));
    return {};
  });
  if (!st) return std::unexpected(std::move(st).error().WithContext(image_path));
  return files;
}

std::string VersionlessPath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] >= '0' && path[i] <= '9') {
      if (out.empty() || out.back() != '#') out += '#';
    } else {
      out += path[i];
    }
  }
  return out;
}

namespace {
std::string Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}
}  // namespace

FileMatcher::FileMatcher(const std::vector<FileBlocks>& old_files) : old_(old_files) {
  for (size_t i = 0; i < old_.size(); ++i) {
    by_path_.emplace(old_[i].path, i);
    by_versionless_[VersionlessPath(old_[i].path)].push_back(i);
    by_basename_[Basename(old_[i].path)].push_back(i);
  }
}

int64_t FileMatcher::Best(const std::vector<size_t>& candidates, uint64_t blocks) const {
  int64_t best = -1;
  uint64_t best_diff = 0;
  for (size_t c : candidates) {
    uint64_t n = old_[c].blocks.size();
    uint64_t diff = n > blocks ? n - blocks : blocks - n;
    if (best < 0 || diff < best_diff ||
        (diff == best_diff && old_[c].path < old_[static_cast<size_t>(best)].path)) {
      best = static_cast<int64_t>(c);
      best_diff = diff;
    }
  }
  return best;
}

int64_t FileMatcher::Match(const FileBlocks& new_file) const {
  if (auto it = by_path_.find(new_file.path); it != by_path_.end()) {
    return static_cast<int64_t>(it->second);
  }
  if (auto it = by_versionless_.find(VersionlessPath(new_file.path)); it != by_versionless_.end()) {
    return Best(it->second, new_file.blocks.size());
  }
  if (auto it = by_basename_.find(Basename(new_file.path)); it != by_basename_.end()) {
    return Best(it->second, new_file.blocks.size());
  }
  return -1;
}

}  // namespace basalt::payload
