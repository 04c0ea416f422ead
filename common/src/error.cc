#include "common/error.h"

#include <cerrno>
#include <cstring>

namespace basalt {

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kIo:
      return "io";
    case ErrorKind::kInvalidInput:
      return "invalid-input";
    case ErrorKind::kIntegrity:
      return "integrity";
    case ErrorKind::kNotFound:
      return "not-found";
    case ErrorKind::kUnsupported:
      return "unsupported";
    case ErrorKind::kPolicy:
      return "policy";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "unknown";
}

Error Error::FromErrno(std::string_view what) {
  return FromErrno(errno, what);
}

Error Error::FromErrno(int err, std::string_view what) {
  ErrorKind kind = err == ENOENT ? ErrorKind::kNotFound : ErrorKind::kIo;
  return Error(kind, fmt::format("{}: {}", what, std::strerror(err)), err);
}

Error&& Error::WithContext(std::string_view context) && {
  message_ = fmt::format("{}: {}", context, message_);
  return std::move(*this);
}

Error Error::WithContext(std::string_view context) const& {
  Error copy = *this;
  return std::move(copy).WithContext(context);
}

}  // namespace basalt
