// `basalt rollout guard`: reads a channel's rollout health from Prometheus and, by a policy,
// pauses the channel (a signed channel document) or widens its rollout one step.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddRolloutCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
