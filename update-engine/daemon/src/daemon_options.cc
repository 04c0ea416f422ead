#include "daemon/daemon_options.h"

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt::daemon {

void AddDaemonOptions(CLI::App& app, DaemonArgs& args) {
  app.set_version_flag("--version", VersionText("basalt-updated"),
                       "Print the version and build features, then exit");
  app.add_option("--root", args.root, "Where the config files live (update.conf paths under it)")
      ->capture_default_str();
  app.add_option("--keys", args.mo.keys_dir, "Trusted release keys (when there is no root file)")
      ->capture_default_str();
  app.add_option("--root-file", args.mo.root_file,
                 "The repository's first trusted root document (absent: keys-only trust)")
      ->capture_default_str();
  app.add_option("--state-dir", args.mo.state_dir, "State directory")->capture_default_str();
  app.add_option("--disk", args.disk, "Update this disk image instead of the running host (tests)");
  app.add_flag("--no-periodic", args.no_periodic, "Only act on D-Bus requests");
  app.add_flag("--session-bus", args.session, "Serve on the session bus (tests)");
}

}  // namespace basalt::daemon
