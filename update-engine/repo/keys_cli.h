// `basalt keys generate|list|show|export-public`.
#pragma once

#include <CLI/CLI.hpp>

#include "common/cli.h"

namespace basalt {

void AddKeysCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
