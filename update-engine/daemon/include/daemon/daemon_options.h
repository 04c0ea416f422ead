// basalt-updated's command line, shared by its main() and by basalt-mangen, which writes
// basalt-updated(8) and its bash completion from these same definitions.
#pragma once

#include <string>

#include "daemon/update_manager.h"

namespace CLI {
class App;
}

namespace basalt::daemon {

inline constexpr const char* kDaemonDescription =
    "basalt-updated: the Basalt host update daemon (org.basalt.Update1)";

struct DaemonArgs {
  std::string root = "/";
  basalt::update::ManagerOptions mo = {};
  std::string disk = {};
  bool no_periodic = false;
  bool session = false;
};

// Adds the daemon's options (and --version) to `app`, bound to `args`.
void AddDaemonOptions(CLI::App& app, DaemonArgs& args);

}  // namespace basalt::daemon
