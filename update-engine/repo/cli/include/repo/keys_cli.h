// `basalt keys generate|list|show|export-public`, and the repository root's
// `init-root|rotate|revoke|show-root`, `secure-boot` and `pcr-policy`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddKeysCommands(CLI::App& app, CommandRunner& runner);
// The root subcommands, added under `keys` by AddKeysCommands.
void AddRootKeysCommands(CLI::App& keys, CommandRunner& runner);
// `keys secure-boot`, added under `keys` by AddKeysCommands.
void AddSecureBootKeysCommand(CLI::App& keys, CommandRunner& runner);
// `keys pcr-policy`, added under `keys` by AddKeysCommands.
void AddPcrPolicyKeysCommand(CLI::App& keys, CommandRunner& runner);

}  // namespace basalt
