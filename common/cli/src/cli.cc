#include "cli/cli.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace basalt {

int ExitCodeFor(const Error& error) {
  switch (error.kind()) {
    case ErrorKind::kIo:
      return kExitFailure;
    case ErrorKind::kInvalidInput:
      return kExitInvalidInput;
    case ErrorKind::kIntegrity:
      return kExitIntegrity;
    case ErrorKind::kNotFound:
      return kExitNotFound;
    case ErrorKind::kUnsupported:
      return kExitUnsupported;
    case ErrorKind::kPolicy:
      return kExitPolicy;
    case ErrorKind::kInternal:
      return kExitFailure;
  }
  return kExitFailure;
}

int ReportError(const Error& error) {
  std::string line = fmt::format("basalt: error: {}\n", error.message());
  std::fputs(line.c_str(), stderr);
  return ExitCodeFor(error);
}

int ReportUsage(std::string_view message) {
  std::string line = fmt::format("basalt: error: {}\n", message);
  std::fputs(line.c_str(), stderr);
  return kExitUsage;
}

void PrintJson(const nlohmann::json& doc) {
  // Documents may quote untrusted text (a server's error, a field of a hostile file): invalid
  // UTF-8 is replaced, never thrown on.
  std::cout << doc.dump(::isatty(STDOUT_FILENO) ? 2 : -1, ' ', false,
                        nlohmann::json::error_handler_t::replace)
            << std::endl;
}

}  // namespace basalt
