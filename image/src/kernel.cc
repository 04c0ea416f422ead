#include "kernel.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <vector>

#include "common/fd.h"
#include "common/printable.h"

namespace basalt::image {
namespace {

constexpr uint64_t kMaxKernelBytes = 256ull << 20;

// Names in `dir`, or none when it is absent or not a directory.
Result<std::vector<std::string>> List(const RootDir& tree, const std::string& dir) {
  BASALT_ASSIGN_OR_RETURN(auto st, tree.Stat(dir));
  if (!st || !S_ISDIR(st->st_mode)) return std::vector<std::string>();
  return tree.List(dir);
}

Result<bool> IsRegular(const RootDir& tree, const std::string& rel) {
  BASALT_ASSIGN_OR_RETURN(auto st, tree.Stat(rel));
  return st && S_ISREG(st->st_mode);
}

void Consider(KernelInfo* best, const std::string& version, const std::string& source) {
  if (best->version.empty() || strverscmp(version.c_str(), best->version.c_str()) > 0) {
    best->version = version;
    best->source_path = source;
  }
}

bool SafeVersion(std::string_view v) {
  if (v.empty() || v.size() > 128 || !std::isalnum(static_cast<unsigned char>(v[0]))) return false;
  for (char c : v) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr("._+~-", c) == nullptr) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<KernelInfo> FindKernel(const RootDir& tree) {
  KernelInfo best;
  for (const char* modules : {"/usr/lib/modules", "/lib/modules"}) {
    // A merged-/usr tree has /lib -> usr/lib; skip it rather than report the same kernel twice.
    if (std::string(modules) == "/lib/modules") {
      BASALT_ASSIGN_OR_RETURN(auto lib, tree.Stat("lib", Follow::kNever));
      if (lib && S_ISLNK(lib->st_mode)) continue;
    }
    BASALT_ASSIGN_OR_RETURN(std::vector<std::string> versions, List(tree, modules));
    for (const auto& v : versions) {
      std::string rel = std::string(modules) + "/" + v + "/vmlinuz";
      BASALT_ASSIGN_OR_RETURN(bool regular, IsRegular(tree, rel));
      if (regular) Consider(&best, v, rel);
    }
  }
  if (best.version.empty()) {
    BASALT_ASSIGN_OR_RETURN(std::vector<std::string> names, List(tree, "/boot"));
    for (const auto& n : names) {
      if (n.rfind("vmlinuz-", 0) != 0 || n.size() == 8) continue;
      std::string rel = "/boot/" + n;
      BASALT_ASSIGN_OR_RETURN(bool regular, IsRegular(tree, rel));
      if (regular) Consider(&best, n.substr(8), rel);
    }
  }
  if (best.version.empty()) {
    // The input lacks what every image needs: bad input (exit 3), like a tree without /usr.
    return Failf(ErrorKind::kInvalidInput,
                 "{}: no kernel in the tree: looked for /usr/lib/modules/*/vmlinuz and "
                 "/boot/vmlinuz-* (regular files, links resolved inside the tree)",
                 tree.what());
  }
  if (!SafeVersion(best.version)) {
    return Failf(ErrorKind::kInvalidInput,
                 "{}: kernel version '{}' ({}) must be 1-128 of [A-Za-z0-9._+~-], starting with a "
                 "letter or digit",
                 tree.what(), Printable(best.version), Printable(best.source_path));
  }
  best.usr_path = "/usr/lib/modules/" + best.version + "/vmlinuz";
  return best;
}

Result<std::string> PlaceKernelInUsr(const RootDir& tree, const KernelInfo& k, int64_t timestamp) {
  const std::string dir = "usr/lib/modules/" + k.version;
  const std::string dst = dir + "/vmlinuz";
  BASALT_ASSIGN_OR_RETURN(auto existing, tree.Stat(dst, Follow::kNever));
  if (existing && S_ISREG(existing->st_mode)) {
    return tree.ReadFile(dst, kMaxKernelBytes, Follow::kNever);
  }
  // The bytes are the tree's own, links resolved inside the tree; the copy is a regular file
  // under directories that are not links, so erofs holds exactly what image.json names.
  BASALT_ASSIGN_OR_RETURN(std::string bytes, tree.ReadFile(k.source_path, kMaxKernelBytes));
  for (const std::string& d : {std::string("usr/lib"), std::string("usr/lib/modules"), dir}) {
    BASALT_ASSIGN_OR_RETURN(auto st, tree.Stat(d, Follow::kNever));
    if (st) continue;
    BASALT_RETURN_IF_ERROR(tree.MakeDirs(d, 0755));
    // Created here (not from the input): root-owned 0755 whatever the umask.
    BASALT_ASSIGN_OR_RETURN(UniqueFd fd, tree.OpenAt(d, O_RDONLY | O_DIRECTORY, Follow::kNever));
    if (fchown(fd.get(), 0, 0) != 0) return FailErrno("chown " + d);
  }
  BASALT_RETURN_IF_ERROR(tree.ReplaceFile(dst, bytes, 0644));
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, tree.OpenAt(dst, O_RDONLY, Follow::kNever));
  if (fchown(fd.get(), 0, 0) != 0) return FailErrno("chown " + dst);
  timespec times[2] = {{timestamp, 0}, {timestamp, 0}};
  if (futimens(fd.get(), times) != 0) return FailErrno("futimens " + dst);
  return bytes;
}

}  // namespace basalt::image
