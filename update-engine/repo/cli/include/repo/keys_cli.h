// `basalt keys generate|list|show|export-public`, and the repository root's
// `init-root|rotate|revoke|show-root`, and `secure-boot`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddKeysCommands(CLI::App& app, CommandRunner& runner);
// The root subcommands, added under `keys` by AddKeysCommands.
void AddRootKeysCommands(CLI::App& keys, CommandRunner& runner);
// `keys secure-boot`, added under `keys` by AddKeysCommands.
void AddSecureBootKeysCommand(CLI::App& keys, CommandRunner& runner);

}  // namespace basalt
