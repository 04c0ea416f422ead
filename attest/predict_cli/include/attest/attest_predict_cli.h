// `basalt attest predict` (docs/attestation.md): what a UKI puts in the TPM. Added to the
// `attest` command group, which the caller owns (sdk/basalt_main.cc), beside ak|quote|verify
// (attest/attest_tpm_cli.h).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

void AddAttestPredictCommand(CLI::App& attest_group, CommandRunner& runner);

}  // namespace basalt
