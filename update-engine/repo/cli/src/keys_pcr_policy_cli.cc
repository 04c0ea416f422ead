// `basalt keys pcr-policy`: the RSA-2048 key pair that signs a release's PCR policies
// (docs/attestation-seal.md), under the names ukify and systemd-cryptenroll use.
#include <iostream>
#include <memory>

#include "repo/keys_cli.h"
#include "tpm/pcr_policy_key.h"

namespace basalt {

void AddPcrPolicyKeysCommand(CLI::App& keys, CommandRunner& runner) {
  auto* cmd = keys.add_subcommand(
      "pcr-policy",
      "Create the RSA-2048 key pair that signs PCR 11 policies (tpm2-pcr-private-key.pem, "
      "tpm2-pcr-public-key.pem)");
  struct Args {
    std::string dir;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--output", a->dir,
                  "Directory for the key pair (created 0700); existing files are never "
                  "overwritten")
      ->required();
  cmd->add_flag("--json", a->json, "Print the result as JSON");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      auto files = tpm::CreatePcrPolicyKey(a->dir);
      if (!files) return ReportError(files.error());
      if (a->json) {
        PrintJson({{"private_key", files->private_key},
                   {"public_key", files->public_key},
                   {"pkfp", files->fingerprint}});
      } else {
        std::cout << files->private_key << "\n" << files->public_key << "\n";
        std::cerr << "basalt: sign PCR policies with " << files->private_key
                  << "; ship the public key in the UKI (.pcrpkey) and seal to it\n";
      }
      return kExitOk;
    });
  });
}

}  // namespace basalt
