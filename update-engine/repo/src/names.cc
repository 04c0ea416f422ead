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

}  // namespace

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

}  // namespace basalt::repo
