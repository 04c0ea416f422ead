#include "cli/cli.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "build_info.h"  // generated

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

std::string VersionText(std::string_view program) {
  std::string text(program);
  text += " " BASALT_BUILD_VERSION " (" BASALT_BUILD_DESCRIBE ")\n" BASALT_BUILD_FEATURES;
  return text;
}

int ReportError(const Error& error) {
  std::string line = fmt::format("basalt: error: {}\n", error.message());
  std::fputs(line.c_str(), stderr);
  return ExitCodeFor(error);
}

void PrintJson(const nlohmann::json& doc) {
  // Documents may quote untrusted text (a server's error, a field of a hostile file): invalid
  // UTF-8 is replaced, never thrown on.
  std::cout << doc.dump(::isatty(STDOUT_FILENO) ? 2 : -1, ' ', false,
                        nlohmann::json::error_handler_t::replace)
            << std::endl;
}

}  // namespace basalt
