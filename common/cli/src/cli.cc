#include "cli/cli.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "build_info.h"  // generated
#include "common/progress.h"

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
  // A kind's own name (ErrorKindName) is its code; the others are repo/decision.h's refusals.
  // docs/cli.md has the table.
  for (ErrorKind kind :
       {ErrorKind::kIo, ErrorKind::kInvalidInput, ErrorKind::kIntegrity, ErrorKind::kNotFound,
        ErrorKind::kUnsupported, ErrorKind::kPolicy, ErrorKind::kInternal}) {
    if (ErrorKindName(kind) == code) return kind;
  }
  static constexpr Entry kCodes[] = {
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

void CommandRunner::AddVerbosityOptions(CLI::App& app) {
  app.add_flag("-q,--quiet", quiet_, "Print only warnings and errors; no progress bars");
  app.add_flag("-v,--verbose", verbose_, "Print debug messages too");
  app.add_option("--log-level", log_level_, "debug, info, warning or error (overrides -q/-v)")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
}

LogLevel CommandRunner::LogLevelOr(LogLevel command_default) const {
  if (log_level_ == "debug") return LogLevel::kDebug;
  if (log_level_ == "info") return LogLevel::kInfo;
  if (log_level_ == "warning") return LogLevel::kWarning;
  if (log_level_ == "error") return LogLevel::kError;
  if (verbose_) return LogLevel::kDebug;
  if (quiet_) return LogLevel::kWarning;
  return command_default;
}

bool CommandRunner::ShowProgress(bool json) const {
  return !json && !quiet_ && ProgressBar::StderrIsTerminal();
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
