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

ErrorKind ErrorKindForCode(std::string_view code) {
  struct Entry {
    std::string_view code;
    ErrorKind kind;
  };
  // The decision codes and kinds are repo/decision.h's refusals; docs/cli.md has the table.
  static constexpr Entry kCodes[] = {
      {"io", ErrorKind::kIo},
      {"invalid-input", ErrorKind::kInvalidInput},
      {"integrity", ErrorKind::kIntegrity},
      {"not-found", ErrorKind::kNotFound},
      {"unsupported", ErrorKind::kUnsupported},
      {"policy", ErrorKind::kPolicy},
      {"internal", ErrorKind::kInternal},
      {"expired", ErrorKind::kPolicy},
      {"downgrade", ErrorKind::kPolicy},
      {"replay", ErrorKind::kIntegrity},
      {"conflicting-metadata", ErrorKind::kIntegrity},
      {"wrong-channel", ErrorKind::kIntegrity},
      {"wrong-repository", ErrorKind::kIntegrity},
      {"mix-and-match", ErrorKind::kIntegrity},
      {"bad-channel-signature", ErrorKind::kIntegrity},
      {"bad-release-signature", ErrorKind::kIntegrity},
      {"bad-channel", ErrorKind::kInvalidInput},
      {"bad-release", ErrorKind::kInvalidInput},
      {"no-payload", ErrorKind::kInvalidInput},
      {"unsupported-format", ErrorKind::kUnsupported},
  };
  for (const Entry& e : kCodes) {
    if (e.code == code) return e.kind;
  }
  return ErrorKind::kInternal;
}

int ExitCodeForCode(std::string_view code) {
  return ExitCodeFor(Error(ErrorKindForCode(code), ""));
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
