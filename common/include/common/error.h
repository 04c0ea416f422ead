// Error values that carry errno and a chain of context, returned through std::expected
// instead of thrown, so library boundaries stay exception-free and messages say where and why.
#pragma once

#include <fmt/format.h>

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace basalt {

// What kind of failure this is. Callers (the CLI's exit codes, the daemon's retry policy)
// branch on the kind; humans read the message.
enum class ErrorKind {
  kIo,            // the OS refused: open/read/write/ioctl; errno is set
  kInvalidInput,  // malformed data or arguments: a parser rejected something
  kIntegrity,     // a hash, signature or root hash did not match
  kNotFound,      // a named thing does not exist
  kUnsupported,   // well-formed but uses something we do not implement
  kPolicy,        // refused by a rule (downgrade, expired, pinned)
  kInternal,      // a bug or an unexpected library failure
};

std::string_view ErrorKindName(ErrorKind kind);

class Error {
 public:
  Error(ErrorKind kind, std::string message, int sys_errno = 0)
      : kind_(kind), message_(std::move(message)), errno_(sys_errno) {}

  // An I/O error from the current errno, e.g. Error::FromErrno("open /dev/vda3").
  static Error FromErrno(std::string_view what);
  static Error FromErrno(int err, std::string_view what);

  ErrorKind kind() const { return kind_; }
  int sys_errno() const { return errno_; }
  const std::string& message() const { return message_; }
  // A stable kebab-case reason for scripts and other processes (D-Bus LastErrorCode, the
  // journal's ERROR_CODE=): a more precise one when set (a refusing decision's "expired",
  // "downgrade", ...), else the kind's name (ErrorKindName).
  std::string code() const { return code_.empty() ? std::string(ErrorKindName(kind_)) : code_; }
  Error&& WithCode(std::string code) && {
    code_ = std::move(code);
    return std::move(*this);
  }

  // Prepends context, so the final message reads outermost-first:
  // "apply payload: operation 17: write /dev/vda4: No space left on device".
  Error&& WithContext(std::string_view context) &&;
  Error WithContext(std::string_view context) const&;

 private:
  ErrorKind kind_;
  std::string message_;
  int errno_;
  std::string code_;
};

// std::expected with [[nodiscard]] on the type, so a dropped error fails the build (libstdc++ 12
// does not mark std::expected). Everything else is std::expected's own interface. A caller that
// means to ignore a failure says why in a comment and logs it.
template <typename T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using Base = std::expected<T, Error>;
  using Base::Base;
  Result() = default;
  // From the std::expected that and_then/transform/or_else return.
  Result(Base other) : Base(std::move(other)) {}  // NOLINT(google-explicit-constructor)
};
using Status = Result<void>;

inline std::unexpected<Error> Fail(ErrorKind kind, std::string message, int sys_errno = 0) {
  return std::unexpected(Error(kind, std::move(message), sys_errno));
}

template <typename... Args>
std::unexpected<Error> Failf(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
  return std::unexpected(Error(kind, fmt::format(f, std::forward<Args>(args)...)));
}

inline std::unexpected<Error> FailErrno(std::string_view what) {
  return std::unexpected(Error::FromErrno(what));
}

}  // namespace basalt

// Propagates a failed Status/Result out of the enclosing function.
#define BASALT_RETURN_IF_ERROR(expr)                                     \
  do {                                                                   \
    auto basalt_status_ = (expr);                                        \
    if (!basalt_status_) return std::unexpected(basalt_status_.error()); \
  } while (0)

#define BASALT_CONCAT_INNER_(a, b) a##b
#define BASALT_CONCAT_(a, b) BASALT_CONCAT_INNER_(a, b)

// auto value = ...; for Result<T>, returning the error on failure.
#define BASALT_ASSIGN_OR_RETURN(lhs, expr) \
  BASALT_ASSIGN_OR_RETURN_IMPL_(BASALT_CONCAT_(basalt_result_, __LINE__), lhs, expr)
#define BASALT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)       \
  auto tmp = (expr);                                        \
  if (!tmp) return std::unexpected(std::move(tmp).error()); \
  lhs = std::move(*tmp)
