#include "common/version.h"

#include <algorithm>
#include <vector>

namespace basalt {
namespace {

constexpr size_t kMaxVersion = 64;
constexpr size_t kMaxCoreNumbers = 8;
constexpr size_t kMaxDigits = 18;

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

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

bool IsNumber(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsDigit);
}

bool IsIdentifierChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

Status CheckIdentifiers(std::string_view part, std::string_view what, std::string_view version,
                        std::string_view field) {
  for (std::string_view id : Split(part, '.')) {
    if (id.empty() || !std::all_of(id.begin(), id.end(), IsIdentifierChar)) {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: version \"{}\": the {} must be dot-separated identifiers of [0-9A-Za-z-]",
                   field, version, what);
    }
  }
  return {};
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

// Core components: missing ones count as 0, so "1.2" == "1.2.0".
int CompareCore(std::string_view a, std::string_view b) {
  auto pa = Split(a, '.');
  auto pb = Split(b, '.');
  for (size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
    std::string_view x = i < pa.size() ? pa[i] : "0";
    std::string_view y = i < pb.size() ? pb[i] : "0";
    if (int c = CompareComponent(x, y); c != 0) return c;
  }
  return 0;
}

// Prerelease identifiers, as semver: a shorter list that is a prefix of a longer one sorts first.
int ComparePrerelease(std::string_view a, std::string_view b) {
  auto pa = Split(a, '.');
  auto pb = Split(b, '.');
  for (size_t i = 0; i < std::min(pa.size(), pb.size()); ++i) {
    if (int c = CompareComponent(pa[i], pb[i]); c != 0) return c;
  }
  if (pa.size() == pb.size()) return 0;
  return pa.size() < pb.size() ? -1 : 1;
}

}  // namespace

Status CheckVersion(std::string_view version, std::string_view field) {
  if (version.empty() || version.size() > kMaxVersion) {
    return Failf(ErrorKind::kInvalidInput, "{}: version must be 1-{} characters", field,
                 kMaxVersion);
  }
  if (!IsDigit(version.front())) {
    return Failf(ErrorKind::kInvalidInput,
                 "{}: version \"{}\" must start with a digit (write \"1.2.0\", not \"v1.2.0\")",
                 field, version);
  }
  std::string_view rest = version;
  std::string_view build, pre;
  if (size_t plus = rest.find('+'); plus != std::string_view::npos) {
    build = rest.substr(plus + 1);
    rest = rest.substr(0, plus);
    BASALT_RETURN_IF_ERROR(CheckIdentifiers(build, "build metadata after '+'", version, field));
  }
  std::string_view core = rest;
  if (size_t dash = rest.find('-'); dash != std::string_view::npos) {
    pre = rest.substr(dash + 1);
    core = rest.substr(0, dash);
    BASALT_RETURN_IF_ERROR(CheckIdentifiers(pre, "prerelease after '-'", version, field));
  }
  auto numbers = Split(core, '.');
  if (numbers.size() > kMaxCoreNumbers) {
    return Failf(ErrorKind::kInvalidInput, "{}: version \"{}\" has more than {} numbers", field,
                 version, kMaxCoreNumbers);
  }
  for (std::string_view n : numbers) {
    if (!IsNumber(n) || n.size() > kMaxDigits) {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: version \"{}\" must begin with dot-separated numbers (1-{} digits each), "
                   "as in 1.2.0, 2.0-rc1 or 4081.2.0+build5",
                   field, version, kMaxDigits);
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
  if (int c = CompareCore(a.substr(0, da), b.substr(0, db)); c != 0) return c;
  bool pre_a = da != std::string_view::npos, pre_b = db != std::string_view::npos;
  if (pre_a != pre_b) return pre_a ? -1 : 1;
  if (!pre_a) return 0;
  return ComparePrerelease(a.substr(da + 1), b.substr(db + 1));
}

}  // namespace basalt
