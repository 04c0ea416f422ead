// `basalt keys secure-boot`: a PK/KEK/db hierarchy for Secure Boot (docs/boot.md, "UKI build and
// Secure Boot signing"), for test machines and fleets that enrol their own keys.
#include <iostream>
#include <memory>

#include "image/secure_boot_keys.h"
#include "repo/keys_cli.h"

namespace basalt {

void AddSecureBootKeysCommand(CLI::App& keys, CommandRunner& runner) {
  auto* cmd = keys.add_subcommand(
      "secure-boot",
      "Create Secure Boot PK, KEK and db key pairs (RSA-2048, self-signed, 10 years) and their "
      "signed enrolment updates (PK.auth, KEK.auth, db.auth)");
  struct Args {
    std::string dir;
    std::string common_name = "Basalt";
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--output", a->dir,
                  "Directory for {PK,KEK,db}.{key,crt,esl,auth} and owner.guid; existing files "
                  "are never overwritten")
      ->required();
  cmd->add_option("--common-name", a->common_name,
                  "Certificate subject prefix: CN=\"<name> PK\", \"<name> KEK\", \"<name> db\"")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the result as JSON");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      auto set = CreateSecureBootKeys(a->dir, a->common_name);
      if (!set) return ReportError(set.error());
      if (a->json) {
        PrintJson({{"owner_guid", set->owner_guid}, {"files", set->files}});
      } else {
        for (const auto& f : set->files)
          std::cout << f << "\n";
        std::cerr << "basalt: sign boot binaries with " << a->dir << "/db.key and db.crt; enrol "
                  << "db.auth, KEK.auth, then PK.auth in setup mode\n";
      }
      return kExitOk;
    });
  });
}

}  // namespace basalt
