#include "basalt_app.h"

#include <fmt/format.h>

#include "attest/attest_predict_cli.h"  // basalt attest predict
#include "attest/attest_seal_cli.h"     // basalt attest sign-policy|seal|unseal
#include "attest/attest_tpm_cli.h"      // basalt attest ak|quote|verify
#include "boot/boot_cli.h"
#include "daemon/update_cli.h"
#include "fleet/fleet_cli.h"
#include "fleet/rollout_guard_cli.h"
#include "image/image_cli.h"
#include "payload/payload_cli.h"
#include "repo/keys_cli.h"
#include "repo/repo_cli.h"
#include "verity/verity_cli.h"

namespace basalt {

void AddBasaltCommands(CLI::App& app, CommandRunner& runner) {
  app.require_subcommand(1);
  // A bad command line is a failure like any other: one `basalt: error:` line on stderr
  // (docs/cli.md), not CLI11's two-line default. Set before the subcommands are added, which
  // copy it.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return fmt::format("basalt: error: {} (see --help)\n", e.what());
  });
  runner.AddVerbosityOptions(app);
  app.fallthrough();  // -q/-v/--log-level after the subcommand too
  app.set_version_flag("--version", VersionText("basalt"),
                       "Print the version and build features, then exit");
  AddImageCommands(app, runner);
  AddVerityCommands(app, runner);
  AddPayloadCommands(app, runner);
  AddKeysCommands(app, runner);
  AddRepoCommands(app, runner);
  AddBootCommands(app, runner);
  AddFleetCommands(app, runner);
  AddRolloutCommands(app, runner);
  AddUpdateCommands(app, runner);
  // basalt attest: predict (attest_predict_cli), ak|quote|verify (attest_tpm_cli),
  // sign-policy|seal|unseal (attest_seal_cli).
  CLI::App* attest = app.add_subcommand("attest", "measured boot and attestation");
  attest->require_subcommand(1);
  AddAttestPredictCommand(*attest, runner);
  AddAttestTpmCommands(*attest, runner);
  AddAttestSealCommands(*attest, runner);
}

}  // namespace basalt
