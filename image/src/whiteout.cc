#include "whiteout.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <optional>
#include <vector>

#include "common/printable.h"

namespace basalt::image {
namespace {

template <typename T>
Result<T> InContext(Result<T> r, const std::string& context) {
  if (!r) return std::unexpected(std::move(r).error().WithContext(context));
  return r;
}

}  // namespace

std::string ParentPath(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

std::string BaseName(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

Status CheckRealDirs(const RootDir& root, const std::string& dir, std::string_view what,
                     const std::string& rel, std::string_view role) {
  size_t end = 0;
  while (end < dir.size()) {
    end = dir.find('/', end + 1);
    if (end == std::string::npos) end = dir.size();
    const std::string prefix = dir.substr(0, end);
    BASALT_ASSIGN_OR_RETURN(std::optional<struct stat> st, root.Stat(prefix, Follow::kNever));
    if (!st) return {};  // the rest is absent too
    if (S_ISLNK(st->st_mode)) {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: {} '{}': '{}' is a symlink, refusing to go through it", what, role,
                   Printable(rel), Printable(prefix));
    }
    if (!S_ISDIR(st->st_mode)) {
      return Failf(ErrorKind::kInvalidInput, "{}: {} '{}': '{}' is not a directory", what, role,
                   Printable(rel), Printable(prefix));
    }
  }
  return {};
}

Status ApplyWhiteout(const RootDir& root, const std::string& rel, std::string_view what,
                     const std::set<std::string>& written) {
  const std::string parent = ParentPath(rel);
  const std::string base = BaseName(rel);
  const bool opaque = base == ".wh..wh..opq";
  const std::string name = base.size() >= 4 ? base.substr(4) : std::string();
  if (!opaque && (!CheckPlainName(name, "whiteout") || name.starts_with(".wh."))) {
    return Failf(ErrorKind::kInvalidInput, "{}: whiteout '{}' does not name a file", what,
                 Printable(rel));
  }
  BASALT_RETURN_IF_ERROR(CheckRealDirs(root, parent, what, rel, "whiteout"));
  BASALT_ASSIGN_OR_RETURN(std::optional<struct stat> dir, root.Stat(parent, Follow::kNever));
  if (!dir) return {};  // nothing below to hide
  const std::string prefix = parent.empty() ? "" : parent + "/";
  const std::string context =
      fmt::format("{}: {}whiteout '{}'", what, opaque ? "opaque " : "", Printable(rel));
  if (!opaque) return InContext(root.RemoveTree(prefix + name), context);
  BASALT_ASSIGN_OR_RETURN(std::vector<std::string> children,
                          InContext(root.List(parent, Follow::kNever), context));
  for (const std::string& child : children) {
    if (written.contains(prefix + child)) continue;
    BASALT_RETURN_IF_ERROR(InContext(root.RemoveTree(prefix + child), context));
  }
  return {};
}

}  // namespace basalt::image
