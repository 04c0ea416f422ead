// `basalt verity format|verify|dump|open|close`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddVerityCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
