#include "repo/names.h"

#include <cctype>
#include <vector>

namespace basalt::repo {
namespace {

bool IsAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

bool IsNumber(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int CompareComponent(std::string_view a, std::string_view b) {
  if (IsNumber(a) && IsNumber(b)) {
    while (a.size() > 1 && a.front() == '0')
      a.remove_prefix(1);
    while (b.size() > 1 && b.front() == '0')
      b.remove_prefix(1);
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  } else if (IsNumber(a) != IsNumber(b)) {
    return IsNumber(a) ? -1 : 1;  // numeric identifiers sort first, as in semver
  }
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

int CompareDotted(std::string_view a, std::string_view b) {
  auto pa = Split(a, '.');
  auto pb = Split(b, '.');
  size_t n = std::max(pa.size(), pb.size());
  for (size_t i = 0; i < n; ++i) {
    std::string_view x = i < pa.size() ? pa[i] : "0";
    std::string_view y = i < pb.size() ? pb[i] : "0";
    if (int c = CompareComponent(x, y); c != 0) return c;
  }
  return 0;
}

}  // namespace

Status CheckVersion(std::string_view version, std::string_view field) {
  if (version.empty() || version.size() > 64) {
    return Failf(ErrorKind::kInvalidInput, "{}: version must be 1-64 characters", field);
  }
  if (!IsAlnum(version.front())) {
    return Failf(ErrorKind::kInvalidInput, "{}: version \"{}\" must start with a letter or digit",
                 field, version);
  }
  for (char c : version) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '+' && c != '-') {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: version may hold only letters, digits and . _ + - (got {:?})", field,
                   std::string(1, c));
    }
  }
  if (version.find("..") != std::string_view::npos) {
    return Failf(ErrorKind::kInvalidInput, "{}: version must not contain \"..\"", field);
  }
  return {};
}

Status CheckChannelName(std::string_view name, std::string_view field) {
  if (name.empty() || name.size() > 64) {
    return Failf(ErrorKind::kInvalidInput, "{}: channel name must be 1-64 characters", field);
  }
  if (!IsAlnum(name.front())) {
    return Failf(ErrorKind::kInvalidInput, "{}: channel name must start with a letter or digit",
                 field);
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: channel name may hold only a-z, 0-9 and . _ - (got {:?})", field,
                   std::string(1, c));
    }
  }
  if (name.find("..") != std::string_view::npos) {
    return Failf(ErrorKind::kInvalidInput, "{}: channel name must not contain \"..\"", field);
  }
  return {};
}

Status CheckRelativeUrl(std::string_view url, std::string_view field) {
  if (url.empty() || url.size() > 512) {
    return Failf(ErrorKind::kInvalidInput, "{}: path must be 1-512 characters", field);
  }
  if (url.front() == '/') {
    return Failf(ErrorKind::kInvalidInput, "{}: \"{}\" must be relative to the repository", field,
                 url);
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f || c == '\\' || c == '?' || c == '#' ||
        c == ':' || c == '%') {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: path may not hold spaces, control characters or \\ ? # : %", field);
    }
  }
  for (std::string_view seg : Split(url, '/')) {
    if (seg.empty() || seg == "." || seg == "..") {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: \"{}\" has an empty, \".\" or \"..\" path segment", field, url);
    }
  }
  return {};
}

int CompareVersions(std::string_view a, std::string_view b) {
  auto strip_build = [](std::string_view v) { return v.substr(0, v.find('+')); };
  a = strip_build(a);
  b = strip_build(b);
  size_t da = a.find('-');
  size_t db = b.find('-');
  std::string_view core_a = a.substr(0, da), core_b = b.substr(0, db);
  if (int c = CompareDotted(core_a, core_b); c != 0) return c;
  bool pre_a = da != std::string_view::npos, pre_b = db != std::string_view::npos;
  if (pre_a != pre_b) return pre_a ? -1 : 1;
  if (!pre_a) return 0;
  return CompareDotted(a.substr(da + 1), b.substr(db + 1));
}

}  // namespace basalt::repo
