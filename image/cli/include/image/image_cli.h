// `basalt image ...` subcommands (docs/image.md).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddImageCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
