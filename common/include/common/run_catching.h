// No exception may leave a thread we start: std::terminate would end the process (the daemon,
// a CI build) with nothing recorded. Every thread body runs through RunCatching, which turns
// whatever it throws (in practice std::bad_alloc) into an Error for the thread's owner to return.
#pragma once

#include <exception>
#include <string_view>
#include <type_traits>
#include <utility>

#include "common/error.h"

namespace basalt {

// body returns Result<T>, Status or void; the result is Result<T> / Status.
template <typename F>
auto RunCatching(std::string_view what, F&& body) noexcept {
  using R = std::invoke_result_t<F>;
  using Out = std::conditional_t<std::is_void_v<R>, Status, R>;
  try {
    if constexpr (std::is_void_v<R>) {
      std::forward<F>(body)();
      return Out{};
    } else {
      return Out(std::forward<F>(body)());
    }
  } catch (const std::exception& e) {
    return Out(Fail(ErrorKind::kInternal, fmt::format("{}: {}", what, e.what())));
  } catch (...) {
    return Out(Fail(ErrorKind::kInternal, fmt::format("{}: unknown exception", what)));
  }
}

}  // namespace basalt
