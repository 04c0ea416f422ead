// The whole `basalt` command tree, in one place for the binary and for basalt-mangen, which
// writes basalt(1) and the bash completion from the very same CLI11 definitions.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

// Registers every area's subcommands on `app` (actions go to `runner`) and the --version flag.
void AddBasaltCommands(CLI::App& app, CommandRunner& runner);

inline constexpr const char* kBasaltDescription =
    "basalt: build, sign, publish and apply A/B updates of immutable OS images";

}  // namespace basalt
