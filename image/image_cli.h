// `basalt image ...` subcommands (docs/image.md).
#pragma once

#include <CLI/CLI.hpp>

#include "common/cli.h"

namespace basalt {

void AddImageCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
