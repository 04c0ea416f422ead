// `basalt payload generate|apply|verify|inspect`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddPayloadCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
