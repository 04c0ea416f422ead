// The `basalt` CLI for pipelines and operators. Each area registers its own subcommands; this
// file only wires them together and turns parse errors into the documented exit codes.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "attest/attest_predict_cli.h"  // basalt attest predict
#include "attest/attest_seal_cli.h"     // basalt attest sign-policy|seal|unseal
#include "attest/attest_tpm_cli.h"      // basalt attest ak|quote|verify
#include "boot/boot_cli.h"
#include "cli/cli.h"
#include "common/termination.h"
#include "daemon/update_cli.h"
#include "fleet/fleet_cli.h"
#include "fleet/rollout_guard_cli.h"
#include "image/image_cli.h"
#include "payload/payload_cli.h"
#include "repo/keys_cli.h"
#include "repo/repo_cli.h"
#include "verity/verity_cli.h"

int main(int argc, char** argv) {
  // First, before any thread exists: SIGTERM/SIGINT/SIGHUP then remove the work directories
  // of a build or publish and kill its tools before the process dies of the signal.
  basalt::TerminationCleanup on_termination;
  CLI::App app{"basalt: build, sign, publish and apply A/B updates of immutable OS images"};
  app.require_subcommand(1);
  // A bad command line is a failure like any other: one `basalt: error:` line on stderr
  // (docs/cli.md), not CLI11's two-line default. Set before the subcommands are added, which
  // copy it.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return fmt::format("basalt: error: {} (see --help)\n", e.what());
  });
  app.set_version_flag("--version", BASALT_VERSION);
  basalt::CommandRunner runner;
  runner.AddVerbosityOptions(app);
  app.fallthrough();  // -q/-v/--log-level after the subcommand too
  basalt::AddImageCommands(app, runner);
  basalt::AddVerityCommands(app, runner);
  basalt::AddPayloadCommands(app, runner);
  basalt::AddKeysCommands(app, runner);
  basalt::AddRepoCommands(app, runner);
  basalt::AddBootCommands(app, runner);
  basalt::AddFleetCommands(app, runner);
  basalt::AddRolloutCommands(app, runner);
  basalt::AddUpdateCommands(app, runner);
  // basalt attest: predict (attest_predict_cli), ak|quote|verify (attest_tpm_cli),
  // sign-policy|seal|unseal (attest_seal_cli).
  CLI::App* attest = app.add_subcommand("attest", "measured boot and attestation");
  attest->require_subcommand(1);
  basalt::AddAttestPredictCommand(*attest, runner);
  basalt::AddAttestTpmCommands(*attest, runner);
  basalt::AddAttestSealCommands(*attest, runner);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? basalt::kExitOk : basalt::kExitUsage;
  }
  return runner.Run();
}
