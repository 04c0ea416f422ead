#include "attest/attest_seal_cli.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hex.h"
#include "common/pe_sections.h"
#include "tpm/pcr_policy.h"
#include "tpm/seal.h"
#include "tpm/tpm_context.h"

namespace basalt {
namespace {

namespace fs = std::filesystem;

// A sealed blob or an unsealed secret may be the only copy: an existing file is never replaced.
Status RefuseExisting(const std::string& path) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(path, ec))) {
    return Failf(ErrorKind::kPolicy, "{} exists; not overwritten", path);
  }
  return {};
}

// The TSS logs its own warnings and errors on stderr, which would break the one-line
// `basalt: error:` convention; the Error we report already carries the decoded TPM code. A
// TSS2_LOG the user set still wins (for debugging).
Result<tpm::TpmContext> OpenTpm(const std::string& tcti) {
  setenv("TSS2_LOG", "all+none", /*overwrite=*/0);
  return tpm::TpmContext::Open(tcti);
}

void AddSignPolicy(CLI::App& attest, CommandRunner& runner) {
  auto* cmd = attest.add_subcommand(
      "sign-policy",
      "Sign TPM2 PolicyPCR digests for PCR 11 values with the PCR policy key, as systemd-measure "
      "sign does (the .pcrsig JSON a UKI carries)");
  struct Args {
    std::string key, output;
    std::vector<std::string> pcr11;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--key", a->key, "RSA-2048 private key (PEM), e.g. tpm2-pcr-private-key.pem")
      ->required();
  cmd->add_option("--pcr11", a->pcr11,
                  "A sha256 PCR 11 value to sign (64 hex digits; repeat for each boot phase or "
                  "release)")
      ->required();
  cmd->add_option("--output", a->output, "Where to write the signature JSON")->required();
  cmd->add_flag("--json", a->json, "Print a summary as JSON");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      std::vector<tpm::PcrPolicyValue> values;
      for (const std::string& hex : a->pcr11) {
        auto raw = FromHex(hex);
        if (!raw || raw->size() != 32) {
          return ReportError(Error(ErrorKind::kInvalidInput,
                                   fmt::format("--pcr11 {}: expected 64 hex digits", hex)));
        }
        tpm::PcrPolicyValue v;
        std::copy(raw->begin(), raw->end(), v.value.begin());
        values.push_back(v);
      }
      auto json = tpm::SignPcrPolicies(a->key, values);
      if (!json) return ReportError(json.error());
      if (Status s = WriteFileAtomic(a->output, *json + "\n"); !s) return ReportError(s.error());
      if (a->json) {
        PrintJson({{"output", a->output}, {"policies", values.size()}});
      } else {
        std::cout << a->output << ": " << values.size() << " signed PCR 11 policies\n";
      }
      return kExitOk;
    });
  });
}

void AddSeal(CLI::App& attest, CommandRunner& runner) {
  auto* cmd = attest.add_subcommand(
      "seal",
      "Seal a secret (up to 128 bytes) in this host's TPM so that it unseals on any boot whose "
      "PCR 11 the policy key signed");
  struct Args {
    std::string key, input, output, tcti = std::string(tpm::kDefaultTcti);
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--policy-key", a->key, "The PCR policy public key (PEM)")->required();
  cmd->add_option("--input", a->input, "File holding the secret")->required();
  cmd->add_option("--output", a->output, "Where to write the sealed blob (never overwritten)")
      ->required();
  cmd->add_option("--tcti", a->tcti, "TPM transport (TCTI), e.g. swtpm:host=127.0.0.1,port=2321")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "Print a summary as JSON");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      if (Status s = RefuseExisting(a->output); !s) return ReportError(s.error());
      auto pem = ReadFileToString(a->key);
      if (!pem) return ReportError(pem.error());
      auto secret = ReadFileToString(a->input);
      if (!secret) return ReportError(secret.error());
      auto ctx = OpenTpm(a->tcti);
      if (!ctx) return ReportError(ctx.error());
      auto blob = tpm::SealToPolicyKey(*ctx, *pem, *secret);
      if (!blob) return ReportError(blob.error().WithContext("seal " + a->input));
      if (Status s = WriteFileAtomic(a->output, *blob, 0600); !s) return ReportError(s.error());
      if (a->json) {
        PrintJson({{"output", a->output}, {"secret_bytes", secret->size()}});
      } else {
        std::cout << a->output << "\n";
      }
      return kExitOk;
    });
  });
}

struct SignedPolicy {
  std::string key_pem, signature;
};

Result<SignedPolicy> PolicyFromFiles(const std::string& key, const std::string& signature) {
  if (key.empty()) {
    return Fail(ErrorKind::kInvalidInput, "unseal needs --uki, or --policy-key and --signature");
  }
  SignedPolicy p;
  BASALT_ASSIGN_OR_RETURN(p.key_pem, ReadFileToString(key));
  BASALT_ASSIGN_OR_RETURN(p.signature, ReadFileToString(signature));
  return p;
}

Result<SignedPolicy> PolicyFromUki(const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(std::string image, ReadFileToString(path));
  constexpr std::array<std::string_view, 2> kNames = {".pcrpkey", ".pcrsig"};
  Result<std::map<std::string, std::string>> sections = ReadPeSections(image, kNames);
  if (!sections) return std::unexpected(sections.error().WithContext("UKI " + path));
  for (std::string_view name : kNames) {
    if (!sections->contains(std::string(name))) {
      return Failf(ErrorKind::kNotFound, "UKI {}: no {} section (built without a PCR policy key)",
                   path, name);
    }
  }
  // Section data is padded to its VirtualSize with NULs at most; the PEM and JSON readers want
  // the text alone.
  auto text = [&](const char* name) {
    std::string s = sections->at(name);
    s.erase(std::find(s.begin(), s.end(), '\0'), s.end());
    return s;
  };
  return SignedPolicy{text(".pcrpkey"), text(".pcrsig")};
}

void AddUnseal(CLI::App& attest, CommandRunner& runner) {
  auto* cmd = attest.add_subcommand(
      "unseal",
      "Unseal a secret sealed with `basalt attest seal`, using a signed policy for this boot's "
      "PCR 11 (exit 5 when no signed policy matches this boot)");
  struct Args {
    std::string blob, key, signature, uki, output, tcti = std::string(tpm::kDefaultTcti);
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--blob", a->blob, "The sealed blob")->required();
  auto* key = cmd->add_option("--policy-key", a->key, "The PCR policy public key (PEM)");
  auto* sig = cmd->add_option("--signature", a->signature,
                              "Signed PCR policies (.pcrsig JSON, from basalt attest sign-policy "
                              "or systemd-measure sign)");
  // The booted UKI carries both. Taking the key from a file an attacker may have changed is
  // safe: the sealed object's policy names the original key, so another key authorizes nothing
  // (and a changed .pcrpkey changes PCR 11 as well).
  auto* uki = cmd->add_option("--uki", a->uki,
                              "Take the policy key and the signed policies from this UKI's "
                              ".pcrpkey and .pcrsig sections (the UKI this boot started)");
  key->excludes(uki);
  sig->excludes(uki);
  key->needs(sig);
  sig->needs(key);
  cmd->add_option("--output", a->output,
                  "Write the secret to this file (mode 0600, never overwritten) instead of stdout");
  cmd->add_option("--tcti", a->tcti, "TPM transport (TCTI)")->capture_default_str();
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      if (!a->output.empty()) {
        if (Status s = RefuseExisting(a->output); !s) return ReportError(s.error());
      }
      auto blob = ReadFileToString(a->blob);
      if (!blob) return ReportError(blob.error());
      auto policy = a->uki.empty() ? PolicyFromFiles(a->key, a->signature) : PolicyFromUki(a->uki);
      if (!policy) return ReportError(policy.error());
      auto ctx = OpenTpm(a->tcti);
      if (!ctx) return ReportError(ctx.error());
      auto secret = tpm::UnsealWithSignedPolicy(*ctx, *blob, policy->key_pem, policy->signature);
      if (!secret) return ReportError(secret.error().WithContext("unseal " + a->blob));
      if (a->output.empty()) {
        std::cout.write(secret->data(), std::streamsize(secret->size()));
        std::cout.flush();
      } else if (Status s = WriteFileAtomic(a->output, *secret, 0600); !s) {
        return ReportError(s.error());
      }
      return kExitOk;
    });
  });
}

}  // namespace

void AddAttestSealCommands(CLI::App& attest, CommandRunner& runner) {
  AddSignPolicy(attest, runner);
  AddSeal(attest, runner);
  AddUnseal(attest, runner);
}

}  // namespace basalt
