// `basalt keys generate|list|show|export-public`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddKeysCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
