// `basalt attest sign-policy|seal|unseal` (docs/attestation-seal.md): sign a release's PCR 11
// policies, and seal a secret to them in the host's TPM.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

// Adds the commands to the `attest` group.
void AddAttestSealCommands(CLI::App& attest, CommandRunner& runner);

}  // namespace basalt
