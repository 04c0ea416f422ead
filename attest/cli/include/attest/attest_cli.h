// `basalt attest ...` (docs/attestation.md): `predict` computes what a UKI puts in the TPM.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace basalt {

// Creates the `attest` subcommand group of `app` and every command in it.
void AddAttestCommands(CLI::App& app, CommandRunner& runner);

}  // namespace basalt
