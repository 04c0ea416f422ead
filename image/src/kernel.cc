#include "kernel.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "common/fd.h"

namespace basalt::image {
namespace {

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    closedir(d);
  }
  return out;
}

bool IsRegular(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void Consider(KernelInfo* best, const std::string& version, const std::string& source) {
  if (best->version.empty() || strverscmp(version.c_str(), best->version.c_str()) > 0) {
    best->version = version;
    best->source_path = source;
  }
}

}  // namespace

Result<KernelInfo> FindKernel(const std::string& tree) {
  KernelInfo best;
  for (const char* modules : {"/usr/lib/modules", "/lib/modules"}) {
    struct stat st;
    // A merged-/usr tree has /lib -> usr/lib; skip it rather than report the same kernel twice.
    if (std::string(modules) == "/lib/modules" && lstat((tree + "/lib").c_str(), &st) == 0 &&
        S_ISLNK(st.st_mode)) {
      continue;
    }
    for (const auto& v : List(tree + modules)) {
      std::string rel = std::string(modules) + "/" + v + "/vmlinuz";
      if (IsRegular(tree + rel)) Consider(&best, v, rel);
    }
  }
  if (best.version.empty()) {
    for (const auto& n : List(tree + "/boot")) {
      if (n.rfind("vmlinuz-", 0) != 0 || n.size() == 8) continue;
      std::string rel = "/boot/" + n;
      if (IsRegular(tree + rel)) Consider(&best, n.substr(8), rel);
    }
  }
  if (best.version.empty()) {
    return Fail(ErrorKind::kNotFound,
                "no kernel in the tree: looked for /usr/lib/modules/*/vmlinuz and /boot/vmlinuz-*");
  }
  if (best.version.find('/') != std::string::npos) {
    return Failf(ErrorKind::kInvalidInput, "kernel version '{}' holds a '/'", best.version);
  }
  best.usr_path = "/usr/lib/modules/" + best.version + "/vmlinuz";
  return best;
}

Status PlaceKernelInUsr(const std::string& tree, const std::string& usr_tree, const KernelInfo& k,
                        int64_t timestamp) {
  std::string dst = usr_tree + "/lib/modules/" + k.version + "/vmlinuz";
  if (IsRegular(dst)) return {};
  for (const std::string& dir :
       {usr_tree + "/lib", usr_tree + "/lib/modules", usr_tree + "/lib/modules/" + k.version}) {
    if (mkdir(dir.c_str(), 0755) == 0) {
      // Created here (not from the input): root-owned 0755 whatever the umask.
      if (chmod(dir.c_str(), 0755) != 0 || chown(dir.c_str(), 0, 0) != 0) {
        return FailErrno("chmod/chown " + dir);
      }
    } else if (errno != EEXIST) {
      return FailErrno("mkdir " + dir);
    }
  }
  BASALT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(tree + k.source_path));
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(dst, O_WRONLY | O_CREAT | O_EXCL, 0644));
  BASALT_RETURN_IF_ERROR(
      WriteFull(fd.get(), {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, dst));
  if (fchown(fd.get(), 0, 0) != 0 || fchmod(fd.get(), 0644) != 0) return FailErrno("fchown " + dst);
  timespec times[2] = {{timestamp, 0}, {timestamp, 0}};
  if (futimens(fd.get(), times) != 0) return FailErrno("futimens " + dst);
  return {};
}

}  // namespace basalt::image
