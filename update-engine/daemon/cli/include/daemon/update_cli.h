// `basalt update ...`: the offline flow against a disk image (`apply --disk`), and the state of
// an update (`status`).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddUpdateCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
