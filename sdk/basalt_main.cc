// The `basalt` CLI for pipelines and operators. Each area registers its own subcommands
// (basalt_app.cc wires them together); this file only turns parse errors into the documented
// exit codes.
#include "basalt_app.h"
#include "common/termination.h"

int main(int argc, char** argv) {
  // First, before any thread exists: SIGTERM/SIGINT/SIGHUP then remove the work directories
  // of a build or publish and kill its tools before the process dies of the signal.
  basalt::TerminationCleanup on_termination;
  CLI::App app{basalt::kBasaltDescription};
  basalt::CommandRunner runner;
  basalt::AddBasaltCommands(app, runner);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? basalt::kExitOk : basalt::kExitUsage;
  }
  return runner.Run();
}
