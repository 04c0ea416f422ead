// `basalt fleet ...`: operator commands for fleet coordination. Today: the etcd reboot lock
// (`basalt fleet lock status|unlock MACHINE_ID|set-max N`), locksmithctl's verbs.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddFleetCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
