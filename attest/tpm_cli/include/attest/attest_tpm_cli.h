// `basalt attest ak|quote|verify`, added to the `attest` command group (which the caller owns,
// so other attest commands such as `predict` live beside these).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {
void AddAttestTpmCommands(CLI::App& attest_group, CommandRunner& runner);
}  // namespace basalt
