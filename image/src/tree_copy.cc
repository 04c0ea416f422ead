#include "tree_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <map>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/hex.h"
#include "common/printable.h"
#include "image/definition.h"

namespace basalt::image {
namespace {

Result<std::vector<std::string>> SortedEntries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return FailErrno("opendir " + dir);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  int err = errno;
  closedir(d);
  if (err != 0) return std::unexpected(Error::FromErrno(err, "readdir " + dir));
  std::sort(names.begin(), names.end());
  return names;
}

using Xattrs = std::vector<std::pair<std::string, std::string>>;

Result<Xattrs> ReadXattrs(const std::string& path) {
  Xattrs out;
  ssize_t len = llistxattr(path.c_str(), nullptr, 0);
  if (len < 0) {
    if (errno == ENOTSUP) return out;
    return FailErrno("llistxattr " + path);
  }
  std::string names(static_cast<size_t>(len), '\0');
  len = llistxattr(path.c_str(), names.data(), names.size());
  if (len < 0) return FailErrno("llistxattr " + path);
  names.resize(static_cast<size_t>(len));
  for (size_t pos = 0; pos < names.size();) {
    std::string name = names.c_str() + pos;
    pos += name.size() + 1;
    if (name.empty()) continue;
    ssize_t vlen = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (vlen < 0) return FailErrno(fmt::format("lgetxattr {} {}", path, name));
    std::string value(static_cast<size_t>(vlen), '\0');
    vlen = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (vlen < 0) return FailErrno(fmt::format("lgetxattr {} {}", path, name));
    value.resize(static_cast<size_t>(vlen));
    out.emplace_back(std::move(name), std::move(value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status WriteXattrs(const std::string& path, const Xattrs& xattrs) {
  for (const auto& [name, value] : xattrs) {
    if (lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) != 0) {
      return FailErrno(fmt::format("lsetxattr {} {}", path, name));
    }
  }
  return {};
}

char TypeChar(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 'd';
    case S_IFREG:
      return 'f';
    case S_IFLNK:
      return 'l';
    case S_IFCHR:
      return 'c';
    case S_IFBLK:
      return 'b';
    case S_IFIFO:
      return 'p';
    case S_IFSOCK:
      return 's';
    default:
      return '?';
  }
}

class Walker {
 public:
  Walker(const CopyOptions& options, Hasher* listing, CopyStats* stats, bool copy)
      : options_(options), listing_(listing), stats_(stats), copy_(copy) {}

  Status Visit(const std::string& src, const std::string& dst, const std::string& name) {
    struct stat st;
    if (lstat(src.c_str(), &st) != 0) {
      // A tree can nest deeper than a path may be long; such an entry cannot be staged (nor
      // read by mkfs), so it is bad input rather than an I/O failure.
      if (errno == ENAMETOOLONG) {
        return Failf(ErrorKind::kInvalidInput, "{}: path longer than {} bytes", Printable(name),
                     PATH_MAX - 1);
      }
      return FailErrno("lstat " + src);
    }
    if (S_ISSOCK(st.st_mode)) return {};  // sockets are runtime objects; tar skips them too
    if (options_.devices_only_under_dev &&
        (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode))) {
      // devtmpfs provides /dev at boot; a node anywhere else reaches the host's devices.
      if (name.starts_with("/dev/")) {
        ++stats_->skipped_devices;
        return {};
      }
      return Failf(ErrorKind::kInvalidInput,
                   "entry '{}' is a {} outside /dev; device nodes and fifos are refused "
                   "(under /dev they are skipped)",
                   Printable(name),
                   S_ISCHR(st.st_mode)   ? "character device"
                   : S_ISBLK(st.st_mode) ? "block device"
                                         : "fifo");
    }
    BASALT_ASSIGN_OR_RETURN(Xattrs xattrs, ReadXattrs(src));
    ++stats_->entries;
    stats_->newest_mtime = std::max<int64_t>(stats_->newest_mtime, st.st_mtime);
    std::string detail;
    switch (st.st_mode & S_IFMT) {
      case S_IFREG: {
        stats_->file_bytes += static_cast<uint64_t>(st.st_size);
        if (stats_->file_bytes > options_.max_file_bytes) {
          return Failf(ErrorKind::kInvalidInput,
                       "entry '{}' ({}) takes the input past the limit of {} (--max-input-size)",
                       Printable(name), HumanSize(static_cast<uint64_t>(st.st_size)),
                       HumanSize(options_.max_file_bytes));
        }
        BASALT_ASSIGN_OR_RETURN(detail, CopyFile(src, dst, st));
        break;
      }
      case S_IFLNK: {
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = readlink(src.c_str(), target.data(), target.size());
        if (n < 0) return FailErrno("readlink " + src);
        target.resize(static_cast<size_t>(n));
        detail = target;
        if (copy_ && symlink(target.c_str(), dst.c_str()) != 0) return FailErrno("symlink " + dst);
        break;
      }
      case S_IFCHR:
      case S_IFBLK:
      case S_IFIFO:
        detail = fmt::format("{}:{}", major(st.st_rdev), minor(st.st_rdev));
        if (copy_ && mknod(dst.c_str(), st.st_mode & (S_IFMT | 07777), st.st_rdev) != 0) {
          return FailErrno("mknod " + dst);
        }
        break;
      case S_IFDIR:
        if (copy_ && mkdir(dst.c_str(), 0700) != 0) return FailErrno("mkdir " + dst);
        break;
      default:
        return Failf(ErrorKind::kUnsupported, "{}: unsupported file type", src);
    }
    if (listing_ != nullptr) {
      std::string line =
          fmt::format("{}\t{}{:04o}\t{}:{}\t{}\t{}", name, TypeChar(st.st_mode), st.st_mode & 07777,
                      st.st_uid, st.st_gid, S_ISREG(st.st_mode) ? st.st_size : 0, detail);
      for (const auto& [k, v] : xattrs) {
        line += fmt::format("\t{}={}", k,
                            ToHex({reinterpret_cast<const uint8_t*>(v.data()), v.size()}));
      }
      line.push_back('\n');
      listing_->Update(line);
    }
    if (S_ISDIR(st.st_mode)) {
      BASALT_ASSIGN_OR_RETURN(auto names, SortedEntries(src));
      for (const auto& n : names) {
        BASALT_RETURN_IF_ERROR(
            Visit(src + "/" + n, dst + "/" + n, name == "/" ? "/" + n : name + "/" + n));
      }
    }
    if (!copy_ || linked_) {
      linked_ = false;
      return {};
    }
    if (lchown(dst.c_str(), st.st_uid, st.st_gid) != 0) return FailErrno("lchown " + dst);
    if (!S_ISLNK(st.st_mode) && chmod(dst.c_str(), st.st_mode & 07777) != 0) {
      return FailErrno("chmod " + dst);
    }
    BASALT_RETURN_IF_ERROR(WriteXattrs(dst, xattrs));
    int64_t t = std::min<int64_t>(st.st_mtime, options_.clamp_mtime);
    timespec times[2] = {{t, 0}, {t, 0}};
    if (utimensat(AT_FDCWD, dst.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return FailErrno("utimensat " + dst);
    }
    return {};
  }

 private:
  // Returns the hex SHA-256 of the content. Sets linked_ when dst is a hardlink whose
  // metadata is already in place.
  Result<std::string> CopyFile(const std::string& src, const std::string& dst,
                               const struct stat& st) {
    std::pair<dev_t, ino_t> key{st.st_dev, st.st_ino};
    if (st.st_nlink > 1) {
      auto it = seen_.find(key);
      if (it != seen_.end()) {
        if (copy_ && link(it->second.first.c_str(), dst.c_str()) != 0) {
          return FailErrno("link " + dst);
        }
        linked_ = copy_;
        return it->second.second;
      }
    }
    BASALT_ASSIGN_OR_RETURN(UniqueFd in, OpenFile(src, O_RDONLY));
    UniqueFd out;
    bool linked = false;
    bool may_link = options_.link_files &&
                    (!options_.link_only_unclamped || st.st_mtime <= options_.clamp_mtime);
    if (copy_ && may_link && link(src.c_str(), dst.c_str()) == 0) {
      linked = true;
    } else if (copy_) {
      BASALT_ASSIGN_OR_RETURN(out, OpenFile(dst, O_WRONLY | O_CREAT | O_EXCL, 0600));
    }
    Hasher h(HashAlgorithm::kSha256);
    std::vector<uint8_t> buf(1 << 20);
    for (;;) {
      BASALT_ASSIGN_OR_RETURN(size_t n, ReadUpTo(in.get(), buf, src));
      if (n == 0) break;
      h.Update(std::span<const uint8_t>(buf.data(), n));
      if (out) BASALT_RETURN_IF_ERROR(WriteFull(out.get(), {buf.data(), n}, dst));
    }
    std::string digest = ToHex(h.Final());
    if (st.st_nlink > 1) seen_[key] = {dst, digest};
    linked_ = linked;
    return digest;
  }

  const CopyOptions& options_;
  Hasher* listing_;
  CopyStats* stats_;
  bool copy_;
  bool linked_ = false;
  std::map<std::pair<dev_t, ino_t>, std::pair<std::string, std::string>> seen_;
};

Status ClampOne(const std::string& path, int64_t clamp) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return FailErrno("lstat " + path);
  if (S_ISDIR(st.st_mode)) {
    BASALT_ASSIGN_OR_RETURN(auto names, SortedEntries(path));
    for (const auto& n : names)
      BASALT_RETURN_IF_ERROR(ClampOne(path + "/" + n, clamp));
  }
  int64_t t = std::min<int64_t>(st.st_mtime, clamp);
  timespec times[2] = {{t, 0}, {t, 0}};
  if (utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return FailErrno("utimensat " + path);
  }
  return {};
}

}  // namespace

Status CopyTree(const std::string& src, const std::string& dst, const std::string& listing_name,
                const CopyOptions& options, Hasher* listing, CopyStats* stats) {
  CopyStats local;
  Walker w(options, listing, stats ? stats : &local, /*copy=*/true);
  return w.Visit(src, dst, listing_name);
}

Status ListTree(const std::string& root, const std::string& listing_name, Hasher* listing,
                CopyStats* stats) {
  CopyStats local;
  CopyOptions options;
  Walker w(options, listing, stats ? stats : &local, /*copy=*/false);
  return w.Visit(root, root, listing_name);
}

Status ClampTimes(const std::string& root, int64_t clamp) {
  return ClampOne(root, clamp);
}

}  // namespace basalt::image
