#include "erofs/erofs_image.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

namespace basalt::erofs {
namespace {

// On-disk facts (erofs_fs.h): superblock at byte 1024, inodes in 32-byte slots from
// meta_blkaddr, directory blocks of 12-byte dirents followed by their names.
constexpr uint64_t kSuperOffset = 1024;
constexpr uint32_t kMagic = 0xE0F5E1E2;
constexpr uint32_t kSlotSize = 32;
constexpr uint32_t kCompactInodeSize = 32;
constexpr uint32_t kExtendedInodeSize = 64;
constexpr uint32_t kDirentSize = 12;
constexpr uint32_t kNameMax = 255;
constexpr uint32_t kNullAddr = 0xFFFFFFFF;
constexpr uint16_t kChunkBitsMask = 0x1F;
constexpr uint16_t kChunkIndexes = 0x20;
constexpr uint16_t kChunkFormatKnown = kChunkBitsMask | kChunkIndexes;
constexpr int kMaxDepth = 256;
// A directory's entries are held in memory while it is walked.
constexpr uint64_t kMaxDirectorySize = 64ull << 20;
constexpr uint64_t kMaxSymlinkSize = 4096;

// feature_incompat bits this reader understands. Compression-related bits only matter for
// compressed files, which are listed but not decoded.
constexpr uint32_t kIncompatZeroPadding = 0x1;
constexpr uint32_t kIncompatComprCfgs = 0x2;  // also BIG_PCLUSTER
constexpr uint32_t kIncompatChunkedFile = 0x4;
constexpr uint32_t kIncompatDeviceTable = 0x8;
constexpr uint32_t kIncompatZtailpacking = 0x10;
constexpr uint32_t kIncompatFragments = 0x20;  // also DEDUPE
constexpr uint32_t kIncompatKnown = kIncompatZeroPadding | kIncompatComprCfgs |
                                    kIncompatChunkedFile | kIncompatDeviceTable |
                                    kIncompatZtailpacking | kIncompatFragments;

uint16_t Le16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}
uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
uint64_t Le64(const uint8_t* p) {
  return static_cast<uint64_t>(Le32(p)) | static_cast<uint64_t>(Le32(p + 4)) << 32;
}

uint64_t DivRoundUp(uint64_t a, uint64_t b) {
  return a / b + (a % b != 0 ? 1 : 0);
}

const char* LayoutName(DataLayout l) {
  switch (l) {
    case DataLayout::kFlatPlain:
      return "flat-plain";
    case DataLayout::kCompressedFull:
      return "compressed-full";
    case DataLayout::kFlatInline:
      return "flat-inline";
    case DataLayout::kCompressedCompact:
      return "compressed-compact";
    case DataLayout::kChunkBased:
      return "chunk-based";
  }
  return "?";
}

void AddExtent(std::vector<BlockExtent>& extents, uint64_t file_block, uint64_t start,
               uint64_t count) {
  if (!extents.empty()) {
    BlockExtent& last = extents.back();
    if (last.file_block + last.num_blocks == file_block &&
        last.start_block + last.num_blocks == start) {
      last.num_blocks += count;
      return;
    }
  }
  extents.push_back({file_block, start, count});
}

}  // namespace

bool ErofsInode::IsDirectory() const {
  return S_ISDIR(mode);
}
bool ErofsInode::IsRegular() const {
  return S_ISREG(mode);
}
bool ErofsInode::IsSymlink() const {
  return S_ISLNK(mode);
}

Result<ErofsImage> ErofsImage::Open(int fd, uint64_t offset, uint64_t size) {
  if (size < kSuperOffset + 128) {
    return Failf(ErrorKind::kInvalidInput, "erofs: image of {} bytes is too small", size);
  }
  if (offset > UINT64_MAX - size) return Fail(ErrorKind::kInvalidInput, "erofs: bad image range");
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return FailErrno("erofs: dup image fd");
  UniqueFd owned(dup_fd);
  uint8_t raw[128];
  BASALT_RETURN_IF_ERROR(PreadFull(owned.get(), raw, offset + kSuperOffset, "erofs superblock"));
  if (Le32(raw) != kMagic) {
    return Failf(ErrorKind::kInvalidInput,
                 "erofs: bad superblock magic {:#010x} at byte 1024 (not an erofs image)",
                 Le32(raw));
  }
  ErofsSuperblock sb;
  sb.feature_compat = Le32(raw + 8);
  const uint8_t blkszbits = raw[12];
  if (blkszbits != 12) {
    return Failf(ErrorKind::kUnsupported,
                 "erofs: block size 2^{} is not supported (only 4096-byte blocks)", blkszbits);
  }
  sb.root_nid = Le16(raw + 14);
  sb.inodes = Le64(raw + 16);
  sb.build_time = Le64(raw + 24);
  sb.blocks = Le32(raw + 36);
  sb.meta_blkaddr = Le32(raw + 40);
  std::memcpy(sb.uuid, raw + 48, 16);
  sb.feature_incompat = Le32(raw + 80);
  const uint16_t extra_devices = Le16(raw + 86);
  if (sb.feature_incompat & ~kIncompatKnown) {
    return Failf(ErrorKind::kUnsupported, "erofs: unknown incompatible features {:#x}",
                 sb.feature_incompat & ~kIncompatKnown);
  }
  if ((sb.feature_incompat & kIncompatDeviceTable) && extra_devices != 0) {
    return Failf(ErrorKind::kUnsupported, "erofs: multi-device images ({} extra devices)",
                 extra_devices);
  }
  if (sb.blocks == 0 || sb.blocks > size / kBlockSize) {
    return Failf(ErrorKind::kInvalidInput,
                 "erofs: superblock claims {} blocks but the image has {} bytes", sb.blocks, size);
  }
  if (sb.meta_blkaddr >= sb.blocks) {
    return Failf(ErrorKind::kInvalidInput, "erofs: metadata block {} is outside the {} blocks",
                 sb.meta_blkaddr, sb.blocks);
  }
  ErofsImage image(std::move(owned), offset, sb.blocks * kBlockSize, sb);
  BASALT_ASSIGN_OR_RETURN(ErofsInode root, image.ReadInode(sb.root_nid));
  if (!root.IsDirectory()) {
    return Failf(ErrorKind::kInvalidInput, "erofs: root inode {} is not a directory", root.nid);
  }
  return image;
}

Status ErofsImage::ReadAt(uint64_t pos, std::span<uint8_t> out, std::string_view what) const {
  if (pos > size_ || out.size() > size_ - pos) {
    return Failf(ErrorKind::kInvalidInput,
                 "erofs: {} at byte {} (+{}) is outside the {}-byte image", what, pos, out.size(),
                 size_);
  }
  return PreadFull(fd_.get(), out, offset_ + pos, what);
}

Result<ErofsInode> ErofsImage::ReadInode(uint64_t nid) const {
  const uint64_t meta_base = sb_.meta_blkaddr * kBlockSize;
  if (nid > (size_ - meta_base) / kSlotSize) {
    return Failf(ErrorKind::kInvalidInput, "erofs: inode {} is outside the image", nid);
  }
  const uint64_t pos = meta_base + nid * kSlotSize;
  if (pos + kCompactInodeSize > size_) {
    return Failf(ErrorKind::kInvalidInput, "erofs: inode {} is outside the image", nid);
  }
  uint8_t raw[kExtendedInodeSize] = {};
  const uint64_t avail = std::min<uint64_t>(kExtendedInodeSize, size_ - pos);
  BASALT_RETURN_IF_ERROR(ReadAt(pos, std::span(raw, avail), "inode"));
  const uint16_t format = Le16(raw);
  if (format & ~0xF) {
    return Failf(ErrorKind::kUnsupported, "erofs: inode {} has unknown format bits {:#x}", nid,
                 format);
  }
  const bool extended = format & 1;
  const uint8_t layout = (format >> 1) & 7;
  if (layout > 4) {
    return Failf(ErrorKind::kUnsupported, "erofs: inode {} has unknown data layout {}", nid,
                 layout);
  }
  ErofsInode ino;
  ino.nid = nid;
  ino.layout = static_cast<DataLayout>(layout);
  const uint16_t xattr_count = Le16(raw + 2);
  ino.mode = Le16(raw + 4);
  const uint32_t iu = Le32(raw + 16);
  uint32_t isize;
  if (extended) {
    isize = kExtendedInodeSize;
    if (avail < kExtendedInodeSize) {
      return Failf(ErrorKind::kInvalidInput, "erofs: inode {} is outside the image", nid);
    }
    ino.size = Le64(raw + 8);
    ino.uid = Le32(raw + 24);
    ino.gid = Le32(raw + 28);
    ino.mtime = Le64(raw + 32);
    ino.nlink = Le32(raw + 44);
  } else {
    isize = kCompactInodeSize;
    ino.nlink = Le16(raw + 6);
    ino.size = Le32(raw + 8);
    ino.uid = Le16(raw + 24);
    ino.gid = Le16(raw + 26);
  }
  // xattr body: a 12-byte header plus 4 bytes per further slot.
  const uint64_t xattr_size = xattr_count == 0 ? 0 : 12 + 4ull * (xattr_count - 1);
  const uint64_t body = pos + isize + xattr_size;
  ino.meta_offset = pos;
  ino.meta_size = isize + xattr_size;
  if (body > size_) {
    return Failf(ErrorKind::kInvalidInput, "erofs: inode {}'s xattrs run past the image", nid);
  }

  const uint32_t type = ino.mode & S_IFMT;
  const bool has_data = type == S_IFREG || type == S_IFDIR || type == S_IFLNK;
  switch (type) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
      break;
    default:
      return Failf(ErrorKind::kInvalidInput, "erofs: inode {} has invalid mode {:#o}", nid,
                   ino.mode);
  }
  if (!has_data) {
    ino.size = 0;
    return ino;
  }
  const uint64_t nblocks = DivRoundUp(ino.size, kBlockSize);
  switch (ino.layout) {
    case DataLayout::kFlatPlain:
    case DataLayout::kFlatInline: {
      uint64_t full = nblocks;
      if (ino.layout == DataLayout::kFlatInline && nblocks > 0) {
        full = nblocks - 1;
        const uint64_t tail = ino.size - full * kBlockSize;
        if (body % kBlockSize + tail > kBlockSize) {
          return Failf(ErrorKind::kInvalidInput,
                       "erofs: inode {}'s inline tail of {} bytes crosses its metadata block", nid,
                       tail);
        }
        ino.inline_offset = body;
        ino.inline_size = static_cast<uint32_t>(tail);
        ino.meta_size += tail;
      }
      if (full > 0) {
        if (iu > sb_.blocks || full > sb_.blocks - iu) {
          return Failf(ErrorKind::kInvalidInput,
                       "erofs: inode {}'s data (block {} + {}) is outside the {} blocks", nid, iu,
                       full, sb_.blocks);
        }
        ino.extents.push_back({0, iu, full});
      }
      break;
    }
    case DataLayout::kChunkBased: {
      const uint16_t chunk_format = static_cast<uint16_t>(iu & 0xFFFF);
      if (chunk_format & ~kChunkFormatKnown) {
        return Failf(ErrorKind::kUnsupported, "erofs: inode {} has unknown chunk format {:#x}", nid,
                     chunk_format);
      }
      const uint32_t chunk_bits = chunk_format & kChunkBitsMask;
      if (chunk_bits > 20) {
        return Failf(ErrorKind::kInvalidInput, "erofs: inode {} has chunks of 2^{} blocks", nid,
                     chunk_bits);
      }
      const uint64_t chunk_blocks = 1ull << chunk_bits;
      const bool indexes = chunk_format & kChunkIndexes;
      const uint64_t unit = indexes ? 8 : 4;
      const uint64_t nchunks = DivRoundUp(nblocks, chunk_blocks);
      const uint64_t table = (body + unit - 1) / unit * unit;
      if (table > size_ || nchunks > (size_ - table) / unit) {
        return Failf(ErrorKind::kInvalidInput,
                     "erofs: inode {}'s chunk table ({} chunks) runs past the image", nid, nchunks);
      }
      ino.meta_size = table + nchunks * unit - pos;
      constexpr uint64_t kBatch = 4096;
      std::vector<uint8_t> buf;
      for (uint64_t first = 0; first < nchunks; first += kBatch) {
        const uint64_t n = std::min(kBatch, nchunks - first);
        buf.resize(n * unit);
        BASALT_RETURN_IF_ERROR(ReadAt(table + first * unit, buf, "chunk table"));
        for (uint64_t i = 0; i < n; ++i) {
          const uint8_t* e = buf.data() + i * unit;
          uint32_t addr;
          if (indexes) {
            if (Le16(e + 2) != 0) {
              return Failf(ErrorKind::kUnsupported,
                           "erofs: inode {} has a chunk on extra device {}", nid, Le16(e + 2));
            }
            addr = Le32(e + 4);
          } else {
            addr = Le32(e);
          }
          const uint64_t fblock = (first + i) * chunk_blocks;
          const uint64_t count = std::min(chunk_blocks, nblocks - fblock);
          if (addr == kNullAddr) continue;  // hole
          if (addr > sb_.blocks || count > sb_.blocks - addr) {
            return Failf(ErrorKind::kInvalidInput,
                         "erofs: inode {}'s chunk {} (block {}) is outside the {} blocks", nid,
                         first + i, addr, sb_.blocks);
          }
          AddExtent(ino.extents, fblock, addr, count);
        }
      }
      break;
    }
    case DataLayout::kCompressedFull:
    case DataLayout::kCompressedCompact:
      ino.compressed = true;
      break;
  }
  return ino;
}

Result<std::string> ErofsImage::ReadData(const ErofsInode& inode, uint64_t max_size) const {
  if (inode.compressed) {
    return Failf(ErrorKind::kUnsupported,
                 "erofs: inode {} is compressed ({}); reading compressed files is not supported",
                 inode.nid, LayoutName(inode.layout));
  }
  if (inode.size > max_size) {
    return Failf(ErrorKind::kInvalidInput, "erofs: inode {} has {} bytes, more than the {} allowed",
                 inode.nid, inode.size, max_size);
  }
  std::string data(inode.size, '\0');
  auto* out = reinterpret_cast<uint8_t*>(data.data());
  const uint64_t body_end = inode.size - inode.inline_size;
  for (const BlockExtent& e : inode.extents) {
    const uint64_t begin = e.file_block * kBlockSize;
    if (begin >= body_end) break;
    const uint64_t len = std::min(e.num_blocks * kBlockSize, body_end - begin);
    BASALT_RETURN_IF_ERROR(
        ReadAt(e.start_block * kBlockSize, std::span(out + begin, len), "file data"));
  }
  if (inode.inline_size > 0) {
    BASALT_RETURN_IF_ERROR(
        ReadAt(inode.inline_offset, std::span(out + body_end, inode.inline_size), "inline data"));
  }
  return data;
}

Result<std::vector<ErofsImage::DirEntry>> ErofsImage::ReadDirectory(const ErofsInode& dir) const {
  auto data_or = ReadData(dir, kMaxDirectorySize);
  if (!data_or) return std::unexpected(std::move(data_or).error().WithContext("read directory"));
  const std::string& data = *data_or;
  std::vector<DirEntry> entries;
  for (uint64_t base = 0; base < data.size(); base += kBlockSize) {
    const auto* blk = reinterpret_cast<const uint8_t*>(data.data()) + base;
    const uint64_t blen = std::min<uint64_t>(kBlockSize, data.size() - base);
    if (blen < kDirentSize) {
      return Failf(ErrorKind::kInvalidInput, "erofs: directory inode {} has a truncated block",
                   dir.nid);
    }
    const uint32_t first_off = Le16(blk + 8);
    if (first_off < kDirentSize || first_off % kDirentSize != 0 || first_off >= blen) {
      return Failf(ErrorKind::kInvalidInput,
                   "erofs: directory inode {} block {} has a bad first name offset {}", dir.nid,
                   base / kBlockSize, first_off);
    }
    const uint32_t count = first_off / kDirentSize;
    for (uint32_t i = 0; i < count; ++i) {
      const uint8_t* d = blk + i * kDirentSize;
      const uint32_t off = Le16(d + 8);
      uint64_t end = i + 1 < count ? Le16(d + kDirentSize + 8) : blen;
      if (off < first_off || off >= end || end > blen) {
        return Failf(ErrorKind::kInvalidInput,
                     "erofs: directory inode {} block {} entry {} has a bad name offset", dir.nid,
                     base / kBlockSize, i);
      }
      std::string_view name(reinterpret_cast<const char*>(blk) + off, end - off);
      if (i + 1 == count) name = name.substr(0, name.find('\0'));
      if (name.empty() || name.size() > kNameMax || name.find('/') != std::string_view::npos ||
          name.find('\0') != std::string_view::npos) {
        return Failf(ErrorKind::kInvalidInput,
                     "erofs: directory inode {} block {} entry {} has an invalid name", dir.nid,
                     base / kBlockSize, i);
      }
      entries.push_back({std::string(name), Le64(d)});
    }
  }
  return entries;
}

Result<ErofsInode> ErofsImage::Lookup(std::string_view path) const {
  std::vector<uint64_t> stack = {sb_.root_nid};
  BASALT_ASSIGN_OR_RETURN(ErofsInode cur, ReadInode(sb_.root_nid));
  std::string walked;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view comp = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (comp.empty() || comp == ".") continue;
    if (!cur.IsDirectory()) {
      return Failf(ErrorKind::kNotFound, "erofs: {} is not a directory",
                   walked.empty() ? "/" : walked);
    }
    if (comp == "..") {
      if (stack.size() > 1) stack.pop_back();
      BASALT_ASSIGN_OR_RETURN(cur, ReadInode(stack.back()));
      size_t cut = walked.rfind('/');
      walked.resize(cut == std::string::npos ? 0 : cut);
      continue;
    }
    BASALT_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, ReadDirectory(cur));
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const DirEntry& e) { return e.name == comp; });
    walked += "/";
    walked += comp;
    if (it == entries.end()) return Failf(ErrorKind::kNotFound, "erofs: {} does not exist", walked);
    if (stack.size() > static_cast<size_t>(kMaxDepth)) {
      return Failf(ErrorKind::kInvalidInput, "erofs: {} is nested too deeply", walked);
    }
    stack.push_back(it->nid);
    BASALT_ASSIGN_OR_RETURN(cur, ReadInode(it->nid));
    if (cur.IsSymlink() && pos <= path.size()) {
      return Failf(ErrorKind::kUnsupported, "erofs: {} is a symlink (not followed)", walked);
    }
  }
  return cur;
}

Result<std::string> ErofsImage::ReadFile(const ErofsInode& inode, uint64_t max_size) const {
  if (!inode.IsRegular()) {
    return Failf(ErrorKind::kInvalidInput, "erofs: inode {} is not a regular file", inode.nid);
  }
  return ReadData(inode, max_size);
}

Result<std::string> ErofsImage::ReadFile(std::string_view path, uint64_t max_size) const {
  BASALT_ASSIGN_OR_RETURN(ErofsInode inode, Lookup(path));
  if (!inode.IsRegular()) {
    return Failf(ErrorKind::kInvalidInput, "erofs: {} is not a regular file", path);
  }
  auto data = ReadData(inode, max_size);
  if (!data) return std::unexpected(std::move(data).error().WithContext(path));
  return data;
}

Result<std::string> ErofsImage::ReadLink(std::string_view path) const {
  BASALT_ASSIGN_OR_RETURN(ErofsInode inode, Lookup(path));
  if (!inode.IsSymlink())
    return Failf(ErrorKind::kInvalidInput, "erofs: {} is not a symlink", path);
  return ReadData(inode, kMaxSymlinkSize);
}

Status ErofsImage::Walk(const ErofsInode& dir, std::string& path, int depth,
                        std::unordered_set<uint64_t>& visited,
                        const std::function<Status(const ErofsFile&)>& fn) const {
  if (depth > kMaxDepth) {
    return Failf(ErrorKind::kInvalidInput, "erofs: {} is nested too deeply", path);
  }
  BASALT_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, ReadDirectory(dir));
  const size_t base_len = path.size();
  for (const DirEntry& e : entries) {
    if (e.name == "." || e.name == "..") continue;
    path.resize(base_len);
    if (base_len > 1) path += '/';
    path += e.name;
    auto inode = ReadInode(e.nid);
    if (!inode) return std::unexpected(std::move(inode).error().WithContext(path));
    // Directories cannot be hard links; refusing a second visit stops loops and the
    // exponential walks a crafted image could build from shared subdirectories.
    if (inode->IsDirectory() && !visited.insert(e.nid).second) {
      return Failf(ErrorKind::kInvalidInput, "erofs: directory {} is linked twice (inode {})", path,
                   e.nid);
    }
    BASALT_RETURN_IF_ERROR(fn(ErofsFile{path, *inode}));
    if (inode->IsDirectory()) BASALT_RETURN_IF_ERROR(Walk(*inode, path, depth + 1, visited, fn));
  }
  path.resize(base_len);
  return {};
}

Status ErofsImage::ForEachFile(const std::function<Status(const ErofsFile&)>& fn) const {
  BASALT_ASSIGN_OR_RETURN(ErofsInode root, ReadInode(sb_.root_nid));
  std::string path = "/";
  BASALT_RETURN_IF_ERROR(fn(ErofsFile{path, root}));
  std::unordered_set<uint64_t> visited = {root.nid};
  return Walk(root, path, 0, visited, fn);
}

}  // namespace basalt::erofs
