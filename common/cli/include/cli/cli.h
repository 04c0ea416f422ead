// The conventions every `basalt` subcommand follows: one clear line on stderr for a failure,
// exit codes by error kind (docs/cli.md), and JSON output through one helper.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/log.h"

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
// The exit code of a stable error code (Error::code(), basalt-updated's LastErrorCode): the kind
// names, and the refusal codes of a channel decision by the kind each one is refused as. An
// unknown code is a plain failure (1): a newer daemon may report codes this CLI predates.
int ExitCodeForCode(std::string_view code);
// The ErrorKind a stable code stands for (kInternal for an unknown code), so an error read back
// from the daemon keeps its kind and code.
ErrorKind ErrorKindForCode(std::string_view code);

// `PROGRAM --version`, systemd style: "PROGRAM 0.1.0 (DESCRIBE)" and a line of build features
// ("+TPM2 ... -ASAN"), both fixed at configure time (build/cmake/BasaltBuildInfo.cmake).
std::string VersionText(std::string_view program);

// Prints "basalt: error: <message>" and returns the matching exit code.
int ReportError(const Error& error);
// The same for a command line that parses but does not make sense (exit 2).
int ReportUsage(std::string_view message);

// Subcommands register an action here; main runs the one CLI11 selected after parsing, so
// actions can return exit codes instead of throwing through CLI11.
class CommandRunner {
 public:
  using Action = std::function<int()>;
  void Set(Action action) { action_ = std::move(action); }
  int Run() const { return action_ ? action_() : kExitUsage; }
  bool has_action() const { return static_cast<bool>(action_); }

  // The global -q/--quiet, -v/--verbose and --log-level (AddVerbosityOptions). A command's
  // StderrLogger takes LogLevelOr(its default): --log-level wins, then -v (debug) or -q
  // (warnings and errors only), else the command's own default.
  void AddVerbosityOptions(CLI::App& app);
  LogLevel LogLevelOr(LogLevel command_default) const;
  // -q also turns progress bars off.
  bool quiet() const { return quiet_; }
  // A progress bar is drawn only at a terminal, never with --json or -q.
  bool ShowProgress(bool json) const;

 private:
  Action action_;
  bool quiet_ = false;
  bool verbose_ = false;
  std::string log_level_;
};

// Prints a JSON document on stdout, pretty when stdout is a terminal.
void PrintJson(const nlohmann::json& doc);

}  // namespace basalt
