// The conventions every `basalt` subcommand follows: one clear line on stderr for a failure,
// exit codes by error kind (docs/cli.md), and JSON output through one helper.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt {

// Exit codes, documented in docs/cli.md. Scripts depend on them; only ever append.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,       // I/O or internal failure
  kExitUsage = 2,         // bad command line
  kExitInvalidInput = 3,  // malformed input data
  kExitIntegrity = 4,     // a hash, root hash or signature did not match
  kExitPolicy = 5,        // refused by a rule (expired, downgrade, pinned)
  kExitNotFound = 6,      // a named file, key, release or channel does not exist
  kExitUnsupported = 7,   // valid but unsupported (algorithm, format version)
};

// The same table with its meanings, for generated documentation (basalt(1)'s EXIT STATUS).
struct ExitCodeInfo {
  ExitCode code = kExitOk;
  std::string_view meaning = {};
};
inline constexpr ExitCodeInfo kExitCodes[] = {
    {kExitOk, "success"},
    {kExitFailure, "failure: I/O or internal error"},
    {kExitUsage, "usage error (unknown flag, missing argument)"},
    {kExitInvalidInput, "invalid input (malformed data, bad TOML)"},
    {kExitIntegrity, "integrity failure (hash, root hash or signature mismatch)"},
    {kExitPolicy, "refused by policy (expired, downgrade, pinned)"},
    {kExitNotFound, "not found (file, key, release or channel)"},
    {kExitUnsupported, "unsupported (algorithm, format version)"},
};

int ExitCodeFor(const Error& error);

// `PROGRAM --version`, systemd style: "PROGRAM 0.1.0 (DESCRIBE)" and a line of build features
// ("+TPM2 ... -ASAN"), both fixed at configure time (build/cmake/BasaltBuildInfo.cmake).
std::string VersionText(std::string_view program);

// Prints "basalt: error: <message>" and returns the matching exit code.
int ReportError(const Error& error);

// Subcommands register an action here; main runs the one CLI11 selected after parsing, so
// actions can return exit codes instead of throwing through CLI11.
class CommandRunner {
 public:
  using Action = std::function<int()>;
  void Set(Action action) { action_ = std::move(action); }
  int Run() const { return action_ ? action_() : kExitUsage; }
  bool has_action() const { return static_cast<bool>(action_); }

 private:
  Action action_;
};

// Prints a JSON document on stdout, pretty when stdout is a terminal.
void PrintJson(const nlohmann::json& doc);

}  // namespace basalt
