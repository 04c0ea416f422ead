// `basalt release publish`, `basalt channel set|pin|rollback|rollout|pause|resume|floor|show`
// and `basalt repo verify`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddRepoCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
