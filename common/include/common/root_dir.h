// An input tree (a root filesystem being built into an image, an initramfs being staged) opened
// as a root: every access below it is resolved against a directory fd, never by joining strings,
// so nothing reached through a RootDir lies outside the tree (docs/hostile-inputs.md).
//
// Two rules, chosen per call:
// - Follow::kInRoot reads the tree as its own OS would: symlinks are followed, but an absolute
//   target and ".." stop at the root (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so
//   /lib -> usr/lib and the alternatives keep working and /etc/shadow means the tree's own file.
// - Follow::kNever refuses any symlink on the way, the last component included. Everything the
//   build *writes* into a tree uses it: a link in the way is an error, never a place to write.
// Where the kernel lacks openat2 (before 5.6) the same rules are walked one component at a time
// with O_NOFOLLOW.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/fd.h"

namespace basalt {

enum class Follow { kInRoot, kNever };

class RootDir {
 public:
  // Opens `path` (a directory chosen by the caller, e.g. the work directory's staged tree) as the
  // root. `what` names the tree in every error ("rootfs /in", "initramfs output /out").
  [[nodiscard]] static Result<RootDir> Open(const std::string& path, std::string what);

  const std::string& path() const { return path_; }
  const std::string& what() const { return what_; }
  int fd() const { return fd_.get(); }

  // Opens `rel` ("usr/lib/x", "/usr/lib/x" and "." are all relative to the root) with `flags`
  // (O_CLOEXEC added; O_CREAT refused: use CreateFile). kNotFound when it does not exist.
  [[nodiscard]] Result<UniqueFd> OpenAt(std::string_view rel, int flags,
                                        Follow follow = Follow::kInRoot) const;

  // stat of `rel` after resolution (kInRoot) or of the entry itself (kNever, like lstat with
  // every parent a real directory); nullopt when absent (or a parent is not a directory).
  [[nodiscard]] Result<std::optional<struct stat>> Stat(std::string_view rel,
                                                        Follow follow = Follow::kInRoot) const;

  // The whole regular file; refuses anything else and files over `max_bytes`.
  [[nodiscard]] Result<std::string> ReadFile(std::string_view rel, uint64_t max_bytes,
                                             Follow follow = Follow::kInRoot) const;

  // Names in directory `rel`, sorted, without "." and "..".
  [[nodiscard]] Result<std::vector<std::string>> List(std::string_view rel,
                                                      Follow follow = Follow::kInRoot) const;

  // The target of symlink `rel` (its parents resolved with `parents`); nullopt when `rel` is not a
  // symlink or is absent.
  [[nodiscard]] Result<std::optional<std::string>> ReadLink(std::string_view rel,
                                                            Follow parents = Follow::kInRoot) const;

  // Creates the missing directories of `rel` with `mode` (owned by the caller's uid/gid, mode
  // set exactly whatever the umask). An existing symlink or non-directory on the way is refused.
  [[nodiscard]] Status MakeDirs(std::string_view rel, mode_t mode) const;

  // Creates a new regular file `rel` (O_EXCL; its parent must exist and no component may be a
  // symlink) and returns it open for writing.
  [[nodiscard]] Result<UniqueFd> CreateFile(std::string_view rel, mode_t mode) const;

  // Writes `data` to `rel` through a temporary file in the same directory and renameat: a new
  // inode (never writing into an existing one, which may be a hardlink into an input).
  [[nodiscard]] Status ReplaceFile(std::string_view rel, std::string_view data, mode_t mode) const;

  // Removes `rel` and, if it is a directory, everything below it, without following a symlink
  // anywhere: a symlink is removed as the link. Absent is fine. Parents must be real directories.
  [[nodiscard]] Status RemoveTree(std::string_view rel) const;

  // For tests: walk component by component as on kernels without openat2.
  void ForceWalkForTesting() { force_walk_ = true; }

 private:
  RootDir(UniqueFd fd, std::string path, std::string what)
      : fd_(std::move(fd)), path_(std::move(path)), what_(std::move(what)) {}

  // Opens `rel` with O_PATH semantics unless flags say otherwise.
  Result<UniqueFd> Resolve(std::string_view rel, int flags, Follow follow) const;
  // The directory holding the last component of `rel` (every component a real directory) and
  // that component's name; refuses an empty name, "." and "..".
  Result<std::pair<UniqueFd, std::string>> Parent(std::string_view rel) const;

  UniqueFd fd_;
  std::string path_;
  std::string what_;
  bool force_walk_ = false;
};

// A path read from an input (a modules.dep line, a tar entry, an ELF DT_NEEDED name) as a clean
// relative path: "./a//b" -> "a/b". Refuses absolute paths, "..", NUL bytes and the empty path,
// naming `what` and the rule broken.
[[nodiscard]] Result<std::string> CleanRelativePath(std::string_view path, std::string_view what);

// A single name (no '/', not "." or "..", not empty, no NUL).
[[nodiscard]] Status CheckPlainName(std::string_view name, std::string_view what);

}  // namespace basalt
