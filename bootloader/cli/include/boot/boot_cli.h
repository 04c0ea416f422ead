// `basalt boot status|set-next|mark-good|mark-bad|rollback|install-slot`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {
void AddBootCommands(CLI::App& app, CommandRunner& runner);
}  // namespace basalt
