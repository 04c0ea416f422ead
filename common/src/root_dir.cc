#include "common/root_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <deque>

#include "common/printable.h"

namespace basalt {
namespace {

// As many symlinks as the kernel follows in one lookup (MAXSYMLINKS), so a tree resolves here
// exactly as it would on the booted host.
constexpr int kMaxSymlinks = 40;

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view c = path.substr(pos, slash - pos);
    if (!c.empty() && c != ".") out.push_back(c);
    pos = slash + 1;
  }
  return out;
}

// The path as openat2 wants it below the root fd: no leading '/', "." for the root.
std::string Relative(std::string_view rel) {
  size_t start = rel.find_first_not_of('/');
  if (start == std::string_view::npos) return ".";
  return std::string(rel.substr(start));
}

Result<std::string> ReadLinkAt(int dirfd, const char* name, std::string_view shown) {
  std::string target(256, '\0');
  for (;;) {
    ssize_t n = readlinkat(dirfd, name, target.data(), target.size());
    if (n < 0) return FailErrno(fmt::format("readlink {}", shown));
    if (static_cast<size_t>(n) < target.size()) {
      target.resize(static_cast<size_t>(n));
      return target;
    }
    if (target.size() >= 65536) {
      return Failf(ErrorKind::kInvalidInput, "{}: symlink target is too long", shown);
    }
    target.resize(target.size() * 2);
  }
}

// The names in the open directory `dirfd` (which stays open and owned by the caller), sorted,
// without "." and "..".
Result<std::vector<std::string>> ReadNames(int dirfd, std::string_view shown) {
  int list_fd = dup(dirfd);
  if (list_fd < 0) return FailErrno(fmt::format("dup {}", shown));
  DIR* d = fdopendir(list_fd);
  if (d == nullptr) {
    close(list_fd);
    return FailErrno(fmt::format("opendir {}", shown));
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  int err = errno;
  closedir(d);
  if (err != 0) return std::unexpected(Error::FromErrno(err, fmt::format("readdir {}", shown)));
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Result<std::string> CleanRelativePath(std::string_view path, std::string_view what) {
  if (path.empty()) return Failf(ErrorKind::kInvalidInput, "{}: empty path", what);
  if (path.find('\0') != std::string_view::npos) {
    return Failf(ErrorKind::kInvalidInput, "{}: path '{}' holds a NUL byte", what, Printable(path));
  }
  if (path.front() == '/') {
    return Failf(ErrorKind::kInvalidInput,
                 "{}: path '{}' is absolute; only relative paths are "
                 "allowed here",
                 what, Printable(path));
  }
  std::string out;
  for (std::string_view c : Split(path)) {
    if (c == "..") {
      return Failf(ErrorKind::kInvalidInput, "{}: path '{}' climbs out with '..'", what,
                   Printable(path));
    }
    if (!out.empty()) out.push_back('/');
    out.append(c);
  }
  return out.empty() ? std::string(".") : out;
}

Status CheckPlainName(std::string_view name, std::string_view what) {
  if (name.empty() || name == "." || name == ".." ||
      name.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos) {
    return Failf(ErrorKind::kInvalidInput,
                 "{}: '{}' is not a plain file name (empty, '.', '..' or holding '/')", what,
                 Printable(name));
  }
  return {};
}

Result<RootDir> RootDir::Open(const std::string& path, std::string what) {
  // The root itself is the caller's choice (a work directory it made), so it may be reached
  // through links; only what lies below it is input.
  int fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FailErrno(fmt::format("{}: open {}", what, path));
  return RootDir(UniqueFd(fd), path, std::move(what));
}

Result<UniqueFd> RootDir::Resolve(std::string_view rel_in, int flags, Follow follow) const {
  const std::string rel = Relative(rel_in);
  auto fail = [&](int err) -> Result<UniqueFd> {
    std::string shown = Printable(rel);
    switch (err) {
      case ENOENT:
        return Failf(ErrorKind::kNotFound, "{}: {}: no such file or directory", what_, shown);
      case ELOOP:
        return follow == Follow::kNever
                   ? Failf(ErrorKind::kInvalidInput,
                           "{}: {}: a symlink is in the way, and links are never followed here",
                           what_, shown)
                   : Failf(ErrorKind::kInvalidInput, "{}: {}: too many levels of symlinks", what_,
                           shown);
      case EXDEV:
        return Failf(ErrorKind::kInvalidInput, "{}: {}: leads out of the tree", what_, shown);
      case ENOTDIR:
        return Fail(ErrorKind::kInvalidInput,
                    fmt::format("{}: {}: a component is not a directory", what_, shown), ENOTDIR);
      case ENAMETOOLONG:
        return Failf(ErrorKind::kInvalidInput, "{}: {}: path too long", what_, shown);
      default:
        return std::unexpected(Error::FromErrno(err, fmt::format("{}: open {}", what_, shown)));
    }
  };
  if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) {
    return Fail(ErrorKind::kInternal, "RootDir::OpenAt cannot create; use CreateFile");
  }
  if (follow == Follow::kNever) {
    for (std::string_view c : Split(rel)) {
      if (c == "..") {
        return Failf(ErrorKind::kInvalidInput, "{}: {}: '..' is not allowed here", what_,
                     Printable(rel));
      }
    }
  }
  if (!force_walk_) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = follow == Follow::kInRoot
                      ? RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
                      : RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0; attempt < 8; ++attempt) {
      long fd = syscall(SYS_openat2, fd_.get(), rel.c_str(), &how, sizeof(how));
      if (fd >= 0) return UniqueFd(static_cast<int>(fd));
      // EAGAIN: a rename raced the lookup of "..", which openat2 will not guess about.
      if (errno == EAGAIN || errno == EINTR) continue;
      if (errno != ENOSYS) return fail(errno);
      break;
    }
    if (errno != ENOSYS) return fail(errno);
  }

  // The walk: one component at a time, every step O_NOFOLLOW, links expanded by hand.
  std::vector<UniqueFd> stack;
  auto root_copy = [&]() -> Result<UniqueFd> {
    int fd = openat(fd_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(errno);
    return UniqueFd(fd);
  };
  BASALT_ASSIGN_OR_RETURN(UniqueFd top, root_copy());
  stack.push_back(std::move(top));
  std::deque<std::string> todo;
  for (std::string_view c : Split(rel))
    todo.emplace_back(c);
  int links = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == "..") {
      if (stack.size() > 1) stack.pop_back();  // at the root, ".." is the root
      continue;
    }
    const bool last = todo.empty();
    int fd = openat(stack.back().get(), c.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return fail(errno);
    UniqueFd entry(fd);
    struct stat st;
    if (fstat(entry.get(), &st) != 0) return fail(errno);
    if (S_ISLNK(st.st_mode)) {
      if (last && (flags & O_NOFOLLOW) != 0) {
        if ((flags & O_PATH) != 0) return entry;
        return fail(ELOOP);
      }
      if (follow == Follow::kNever || ++links > kMaxSymlinks) return fail(ELOOP);
      BASALT_ASSIGN_OR_RETURN(std::string target, ReadLinkAt(entry.get(), "", Printable(rel)));
      if (!target.empty() && target.front() == '/') stack.resize(1);
      std::vector<std::string_view> parts = Split(target);
      for (auto it = parts.rbegin(); it != parts.rend(); ++it)
        todo.emplace_front(*it);
      continue;
    }
    if (!last) {
      if (!S_ISDIR(st.st_mode)) return fail(ENOTDIR);
      stack.push_back(std::move(entry));
      continue;
    }
    // The final open with the caller's flags; O_NOFOLLOW keeps a swapped-in link out.
    int final_fd = openat(stack.back().get(), c.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
    if (final_fd < 0) return fail(errno);
    return UniqueFd(final_fd);
  }
  int fd = openat(stack.back().get(), ".", flags | O_CLOEXEC);
  if (fd < 0) return fail(errno);
  return UniqueFd(fd);
}

Result<UniqueFd> RootDir::OpenAt(std::string_view rel, int flags, Follow follow) const {
  return Resolve(rel, flags, follow);
}

Result<std::optional<struct stat>> RootDir::Stat(std::string_view rel, Follow follow) const {
  auto fd = Resolve(rel, O_PATH | (follow == Follow::kNever ? O_NOFOLLOW : 0), follow);
  if (!fd) {
    // As for stat(2): a regular file where a directory should be means "no such entry".
    if (fd.error().kind() == ErrorKind::kNotFound || fd.error().sys_errno() == ENOTDIR) {
      return std::optional<struct stat>();
    }
    return std::unexpected(fd.error());
  }
  struct stat st;
  if (fstat(fd->get(), &st) != 0) return FailErrno(fmt::format("{}: stat {}", what_, rel));
  return std::optional<struct stat>(st);
}

Result<std::string> RootDir::ReadFile(std::string_view rel, uint64_t max_bytes,
                                      Follow follow) const {
  const int nofollow = follow == Follow::kNever ? O_NOFOLLOW : 0;
  // Looked at before it is opened for reading: opening a FIFO would block and opening a device
  // node could act on the build host's hardware.
  BASALT_ASSIGN_OR_RETURN(UniqueFd probe, Resolve(rel, O_PATH | nofollow, follow));
  struct stat before;
  if (fstat(probe.get(), &before) != 0) return FailErrno(fmt::format("{}: stat {}", what_, rel));
  if (!S_ISREG(before.st_mode)) {
    return Failf(ErrorKind::kInvalidInput, "{}: {}: not a regular file", what_, Printable(rel));
  }
  if (static_cast<uint64_t>(before.st_size) > max_bytes) {
    return Failf(ErrorKind::kInvalidInput, "{}: {}: {} bytes, more than the {} allowed", what_,
                 Printable(rel), before.st_size, max_bytes);
  }
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, Resolve(rel, O_RDONLY | O_NONBLOCK | nofollow, follow));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return FailErrno(fmt::format("{}: stat {}", what_, rel));
  if (st.st_dev != before.st_dev || st.st_ino != before.st_ino) {
    return Failf(ErrorKind::kInvalidInput, "{}: {}: changed while being opened", what_,
                 Printable(rel));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno(fmt::format("{}: read {}", what_, rel));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return Failf(ErrorKind::kInvalidInput, "{}: {}: more than the {} bytes allowed", what_,
                   Printable(rel), max_bytes);
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::vector<std::string>> RootDir::List(std::string_view rel, Follow follow) const {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, Resolve(rel, O_RDONLY | O_DIRECTORY, follow));
  return ReadNames(fd.get(), fmt::format("{}: {}", what_, Printable(rel)));
}

Result<std::pair<UniqueFd, std::string>> RootDir::Parent(std::string_view rel) const {
  BASALT_ASSIGN_OR_RETURN(std::string clean, CleanRelativePath(Relative(rel), what_));
  size_t slash = clean.rfind('/');
  std::string name = slash == std::string::npos ? clean : clean.substr(slash + 1);
  std::string dir = slash == std::string::npos ? "." : clean.substr(0, slash);
  BASALT_RETURN_IF_ERROR(CheckPlainName(name, fmt::format("{}: {}", what_, Printable(clean))));
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, Resolve(dir, O_PATH | O_DIRECTORY, Follow::kNever));
  return std::pair<UniqueFd, std::string>(std::move(fd), std::move(name));
}

Result<std::optional<std::string>> RootDir::ReadLink(std::string_view rel, Follow parents) const {
  BASALT_ASSIGN_OR_RETURN(std::string clean, CleanRelativePath(Relative(rel), what_));
  size_t slash = clean.rfind('/');
  std::string name = slash == std::string::npos ? clean : clean.substr(slash + 1);
  std::string dir = slash == std::string::npos ? "." : clean.substr(0, slash);
  auto fd = Resolve(dir, O_PATH | O_DIRECTORY, parents);
  if (!fd) {
    if (fd.error().kind() == ErrorKind::kNotFound) return std::optional<std::string>();
    return std::unexpected(fd.error());
  }
  struct stat st;
  if (fstatat(fd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return FailErrno(fmt::format("{}: stat {}", what_, Printable(clean)));
  }
  if (!S_ISLNK(st.st_mode)) return std::optional<std::string>();
  BASALT_ASSIGN_OR_RETURN(std::string target, ReadLinkAt(fd->get(), name.c_str(), clean));
  return std::optional<std::string>(std::move(target));
}

Status RootDir::MakeDirs(std::string_view rel, mode_t mode) const {
  BASALT_ASSIGN_OR_RETURN(std::string clean, CleanRelativePath(Relative(rel), what_));
  int cur_fd = openat(fd_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cur_fd < 0) return FailErrno(fmt::format("{}: open", what_));
  UniqueFd cur(cur_fd);
  std::string sofar;
  for (std::string_view c : Split(clean)) {
    sofar += (sofar.empty() ? "" : "/") + std::string(c);
    const std::string name(c);
    bool created = mkdirat(cur.get(), name.c_str(), mode) == 0;
    if (!created && errno != EEXIST) return FailErrno(fmt::format("{}: mkdir {}", what_, sofar));
    int fd = openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR) {
        // O_DIRECTORY|O_NOFOLLOW on a link gives ELOOP or ENOTDIR depending on the kernel.
        struct stat st;
        bool link =
            fstatat(cur.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
        return Failf(ErrorKind::kInvalidInput, "{}: {}: {}; the build never writes through it",
                     what_, Printable(sofar), link ? "is a symlink" : "is not a directory");
      }
      return FailErrno(fmt::format("{}: open {}", what_, sofar));
    }
    UniqueFd next(fd);
    if (created && fchmod(next.get(), mode) != 0) {
      return FailErrno(fmt::format("{}: chmod {}", what_, sofar));
    }
    cur = std::move(next);
  }
  return {};
}

Result<UniqueFd> RootDir::CreateFile(std::string_view rel, mode_t mode) const {
  BASALT_ASSIGN_OR_RETURN(auto parent, Parent(rel));
  auto& [dir, name] = parent;
  int fd =
      openat(dir.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Failf(ErrorKind::kInvalidInput, "{}: {}: already exists", what_, Printable(rel));
    }
    return FailErrno(fmt::format("{}: create {}", what_, Printable(rel)));
  }
  UniqueFd out(fd);
  if (fchmod(out.get(), mode) != 0) return FailErrno(fmt::format("{}: chmod {}", what_, rel));
  return out;
}

Status RootDir::ReplaceFile(std::string_view rel, std::string_view data, mode_t mode) const {
  BASALT_ASSIGN_OR_RETURN(auto parent, Parent(rel));
  auto& [dir, name] = parent;
  std::string tmp;
  UniqueFd out;
  for (int attempt = 0; attempt < 16 && !out; ++attempt) {
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r)) return FailErrno("getrandom");
    tmp = fmt::format(".{}.basalt-{:016x}", name, r);
    int fd =
        openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) {
      out = UniqueFd(fd);
    } else if (errno != EEXIST) {
      return FailErrno(fmt::format("{}: create {}", what_, Printable(rel)));
    }
  }
  if (!out) return Failf(ErrorKind::kIo, "{}: no free temporary name for {}", what_, rel);
  // No fsync: trees are staging areas that a crash discards along with the work directory.
  Status s = WriteFull(out.get(), {reinterpret_cast<const uint8_t*>(data.data()), data.size()},
                       Printable(rel));
  if (s && fchmod(out.get(), mode) != 0) s = FailErrno(fmt::format("{}: chmod {}", what_, rel));
  if (s && renameat(dir.get(), tmp.c_str(), dir.get(), name.c_str()) != 0) {
    s = FailErrno(fmt::format("{}: rename into {}", what_, Printable(rel)));
  }
  if (!s) unlinkat(dir.get(), tmp.c_str(), 0);  // best effort: the error above is what matters
  return s;
}

namespace {

// Removes `name` in `dirfd`, recursing into directories through fds only.
Status RemoveAt(int dirfd, const std::string& name, const std::string& shown) {
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return FailErrno("stat " + shown);
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return FailErrno("open " + shown);
    UniqueFd dir(fd);
    BASALT_ASSIGN_OR_RETURN(std::vector<std::string> names, ReadNames(dir.get(), shown));
    for (const std::string& n : names)
      BASALT_RETURN_IF_ERROR(RemoveAt(dir.get(), n, shown + "/" + Printable(n)));
  }
  if (unlinkat(dirfd, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 &&
      errno != ENOENT) {
    return FailErrno("remove " + shown);
  }
  return {};
}

}  // namespace

Status RootDir::RemoveTree(std::string_view rel) const {
  auto parent = Parent(rel);
  if (!parent) {
    if (parent.error().kind() == ErrorKind::kNotFound) return {};
    return std::unexpected(parent.error());
  }
  auto& [dir, name] = *parent;
  Status s = RemoveAt(dir.get(), name, Printable(Relative(rel)));
  if (!s) return std::unexpected(s.error().WithContext(what_));
  return {};
}

}  // namespace basalt
