#include "attest/attest_tpm_cli.h"

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attest/event_log.h"
#include "attest/quote_document.h"
#include "attest/verify.h"
#include "boot/boot_target.h"
#include "boot/slot_policy.h"
#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hex.h"
#include "common/keyring.h"
#include "common/printable.h"
#include "common/signing.h"
#include "http/fetcher.h"
#include "repo/dsse.h"
#include "repo/json_fields.h"
#include "repo/names.h"
#include "repo/release.h"
#include "repo/repo_source.h"
#include "tpm/attestation_key.h"
#include "tpm/quote.h"

namespace basalt {
namespace {

constexpr std::string_view kEventLogPath = "/sys/kernel/security/tpm0/binary_bios_measurements";

// The TSS libraries log their own warnings on stderr (a malformed structure in a document being
// verified, a TPM refusal that we report ourselves); the CLI promises one error line, so they
// are off unless the user asks for them with TSS2_LOG.
void QuietTss() {
  setenv("TSS2_LOG", "all+none", /*overwrite=*/0);
}

Status WriteOutput(const std::string& path, std::string_view text) {
  if (path.empty() || path == "-") {
    fmt::print("{}", text);
    return {};
  }
  return WriteFileAtomic(path, text);
}

Result<std::vector<uint8_t>> NonceArg(const std::string& hex) {
  auto nonce = FromHex(hex);
  if (!nonce) return std::unexpected(std::move(nonce).error().WithContext("--nonce"));
  if (nonce->empty() || nonce->size() > attest::kMaxNonceBytes) {
    return Failf(ErrorKind::kInvalidInput, "--nonce: {} bytes is not in 1..{}", nonce->size(),
                 attest::kMaxNonceBytes);
  }
  return nonce;
}

struct AkOptions {
  std::string tcti{tpm::kDefaultTcti};
  std::string output;
  bool json = false;
};

int RunAk(const AkOptions& o) {
  QuietTss();
  auto t = tpm::TpmContext::Open(o.tcti);
  if (!t) return ReportError(t.error());
  auto ak = tpm::CreateAttestationKey(*t);
  if (!ak) return ReportError(ak.error());
  if (o.json) {
    auto key = PublicKey::FromPem(ak->public_pem);
    if (!key) return ReportError(key.error());
    PrintJson({{"ak", ak->public_pem}, {"key_id", key->id()}});
    if (o.output.empty()) return kExitOk;
  }
  if (Status s = WriteOutput(o.output, ak->public_pem); !s) return ReportError(s.error());
  return kExitOk;
}

struct QuoteOptions {
  std::string tcti{tpm::kDefaultTcti};
  std::string nonce;
  std::vector<int> pcrs = {4, 7, 11};
  std::string event_log{kEventLogPath};
  std::string claim_version;
  std::string claim_slot;
  std::string output;
};

// The running slot and the version its boot entry names, as `basalt boot status` shows them.
Status ClaimFromBootStatus(attest::AttestationDocument& doc) {
  auto bc = boot::OpenBootControl(boot::BootTarget{});
  if (!bc) return std::unexpected(bc.error());
  auto status = (*bc)->GetStatus();
  if (!status) return std::unexpected(status.error());
  if (!status->current) return Fail(ErrorKind::kNotFound, "no running slot");
  const auto& slot = status->slots[boot::SlotIndex(*status->current)];
  if (slot.version.empty()) {
    return Failf(ErrorKind::kNotFound, "slot {} has no version in its boot entry",
                 boot::SlotName(*status->current));
  }
  doc.claim_slot = std::string(boot::SlotName(*status->current));
  doc.claim_version = slot.version;
  return {};
}

int RunQuote(const QuoteOptions& o) {
  QuietTss();
  attest::AttestationDocument doc;
  auto nonce = NonceArg(o.nonce);
  if (!nonce) return ReportError(nonce.error());
  doc.nonce = std::move(*nonce);
  if (o.claim_version.empty() != o.claim_slot.empty()) {
    return ReportError(Error(ErrorKind::kInvalidInput,
                             "--claim-version and --claim-slot go together (or neither, to read "
                             "them from the running system)"));
  }
  if (!o.claim_version.empty()) {
    auto slot = boot::ParseSlot(o.claim_slot);
    if (!slot) return ReportError(slot.error().WithContext("--claim-slot"));
    doc.claim_slot = std::string(boot::SlotName(*slot));
    doc.claim_version = o.claim_version;
  } else if (Status s = ClaimFromBootStatus(doc); !s) {
    return ReportError(
        s.error().WithContext("the running release (give --claim-version and --claim-slot)"));
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) {
    return ReportError(Error::FromErrno("gethostname"));
  }
  doc.host = host;

  auto log = ReadFileToString(o.event_log);
  if (!log) return ReportError(log.error().WithContext("event log"));
  doc.event_log.assign(log->begin(), log->end());
  // Checked here too, so a host learns of a log the verifier would refuse when it makes the
  // document, not from an operator.
  if (auto parsed = attest::ParseEventLog(doc.event_log); !parsed) {
    return ReportError(parsed.error().WithContext(o.event_log));
  }

  auto t = tpm::TpmContext::Open(o.tcti);
  if (!t) return ReportError(t.error());
  auto ak = tpm::CreateAttestationKey(*t);
  if (!ak) return ReportError(ak.error());
  doc.ak_pem = ak->public_pem;
  auto quote = tpm::QuotePcrs(*t, ak->handle, doc.nonce, o.pcrs);
  if (!quote) return ReportError(quote.error());
  doc.attest = std::move(quote->attest);
  doc.signature = std::move(quote->signature);
  for (const auto& [pcr, value] : quote->pcrs)
    doc.pcrs[static_cast<uint32_t>(pcr)] = value;
  if (Status s = WriteOutput(o.output, attest::FormatAttestationDocument(doc) + "\n"); !s) {
    return ReportError(s.error());
  }
  return kExitOk;
}

struct VerifyOptions {
  std::string ak;
  std::string nonce;
  std::vector<std::string> pcr11;
  std::string uki_authenticode;
  std::string release_name;
  std::string repo, keys;
  size_t threshold = 1;
  std::string document;
  bool json = false;
};

// The expectations a signed release states for the slot a host claims: the release document
// (releases/<version>/release.json) is verified against the operator's trusted release keys
// before anything in it is used, and must be the release it names.
Result<attest::ExpectedMeasurements> ExpectedFromRelease(const VerifyOptions& o,
                                                         const attest::AttestationDocument& doc) {
  BASALT_RETURN_IF_ERROR(repo::CheckVersion(doc.claim_version, "the document's claim.version"));
  BASALT_ASSIGN_OR_RETURN(Keyring keys, Keyring::Load(o.keys));
  auto fetcher = http::MakeCurlFetcher();
  repo::RepositorySource source(*fetcher, o.repo);
  BASALT_ASSIGN_OR_RETURN(std::string text, source.FetchRelease(doc.claim_version));
  auto body = repo::OpenVerified(text, repo::kReleasePayloadType, keys, o.threshold);
  if (!body) {
    return std::unexpected(
        body.error().WithContext(fmt::format("release {} in {}", doc.claim_version, o.repo)));
  }
  BASALT_ASSIGN_OR_RETURN(repo::Release rel, repo::ParseRelease(*body));
  if (rel.version != doc.claim_version) {
    return Failf(ErrorKind::kIntegrity, "releases/{}/release.json is release {}", doc.claim_version,
                 rel.version);
  }
  const repo::BootArtifactInfo* uki = nullptr;
  if (rel.boot) {
    if (auto it = rel.boot->uki.find(doc.claim_slot); it != rel.boot->uki.end()) uki = &it->second;
  }
  if (uki == nullptr || !uki->measurements) {
    return Failf(ErrorKind::kNotFound,
                 "release {} predicts no measurements for slot {} (not a uki release, or "
                 "published before release format 1.4)",
                 rel.version, doc.claim_slot);
  }
  attest::ExpectedMeasurements e;
  e.release_name = rel.version;
  e.pcr11.push_back(uki->measurements->pcr11);
  for (const auto& [phase, value] : uki->measurements->pcr11_phases)
    e.pcr11.push_back(value);
  e.uki_authenticode = uki->measurements->authenticode_sha256;
  return e;
}

// Reads what the operator expects. A later `--repo/--keys` fills `expected` from a signed
// release instead of the flags.
Result<attest::VerifyInputs> VerifyInputsFromFlags(const VerifyOptions& o) {
  attest::VerifyInputs in;
  BASALT_ASSIGN_OR_RETURN(in.enrolled_ak_pem, ReadFileToString(o.ak));
  BASALT_ASSIGN_OR_RETURN(in.nonce, NonceArg(o.nonce));
  for (const std::string& v : o.pcr11) {
    BASALT_RETURN_IF_ERROR(repo::CheckHex(v, 32, "--expect-pcr11"));
    in.expected.pcr11.push_back(v);
  }
  if (!o.uki_authenticode.empty()) {
    BASALT_RETURN_IF_ERROR(repo::CheckHex(o.uki_authenticode, 32, "--expect-uki-authenticode"));
    in.expected.uki_authenticode = o.uki_authenticode;
  }
  in.expected.release_name = o.release_name;
  return in;
}

int RunVerify(const VerifyOptions& o) {
  QuietTss();
  auto in = VerifyInputsFromFlags(o);
  if (!in) return ReportError(in.error());
  if (o.repo.empty() && in->expected.pcr11.empty()) {
    return ReportError(Error(ErrorKind::kInvalidInput,
                             "attest verify: give --repo and --keys, or --expect-pcr11"));
  }
  auto text = ReadFileToString(o.document);
  if (!text) return ReportError(text.error());
  auto doc = attest::ParseAttestationDocument(*text);
  if (!doc) return ReportError(doc.error().WithContext(o.document));
  if (!o.repo.empty()) {
    auto expected = ExpectedFromRelease(o, *doc);
    if (!expected) return ReportError(expected.error());
    in->expected = std::move(*expected);
  }
  const attest::Verdict v = attest::VerifyAttestation(*doc, *in);
  if (o.json) {
    nlohmann::json findings = nlohmann::json::array();
    for (const attest::Finding& f : v.findings) {
      findings.push_back({{"code", f.code}, {"ok", f.ok}, {"message", f.message}});
    }
    PrintJson({{"ok", v.ok}, {"summary", v.summary}, {"findings", std::move(findings)}});
  } else {
    for (const attest::Finding& f : v.findings) {
      fmt::print("{} {}: {}\n", f.ok ? "ok  " : "FAIL", f.code, f.message);
    }
    if (v.ok) fmt::print("{}\n", v.summary);
  }
  if (v.ok) return kExitOk;
  // Not as built: an integrity failure (docs/cli.md), with the summary as the one error line.
  return ReportError(Error(ErrorKind::kIntegrity, v.summary));
}

}  // namespace

void AddAttestTpmCommands(CLI::App& attest_group, CommandRunner& runner) {
  auto ak = std::make_shared<AkOptions>();
  CLI::App* ak_cmd = attest_group.add_subcommand(
      "ak", "print this host's attestation key (public PEM), for enrolling the host");
  ak_cmd->add_option("--tcti", ak->tcti, "TPM transport")->capture_default_str();
  ak_cmd->add_option("--output,-o", ak->output, "write the PEM to FILE instead of stdout");
  ak_cmd->add_flag("--json", ak->json, "print {\"ak\": PEM, \"key_id\": ...}");
  ak_cmd->callback([&runner, ak] { runner.Set([ak] { return RunAk(*ak); }); });

  auto q = std::make_shared<QuoteOptions>();
  CLI::App* quote = attest_group.add_subcommand(
      "quote", "have the TPM quote PCRs with the verifier's nonce; print the attestation document");
  quote->add_option("--nonce", q->nonce, "the verifier's nonce, hex (1..64 bytes)")->required();
  quote->add_option("--tcti", q->tcti, "TPM transport")->capture_default_str();
  quote->add_option("--pcrs", q->pcrs, "SHA-256 PCRs to quote")
      ->delimiter(',')
      ->check(CLI::Range(0, 23))
      ->capture_default_str();
  quote->add_option("--event-log", q->event_log, "the TCG event log")->capture_default_str();
  quote->add_option("--claim-version", q->claim_version,
                    "the release this host claims (default: the running slot's version)");
  quote->add_option("--claim-slot", q->claim_slot,
                    "A or B (default: the running slot, as `basalt boot status` shows)");
  quote->add_option("--output,-o", q->output, "write the document to FILE instead of stdout");
  quote->callback([&runner, q] { runner.Set([q] { return RunQuote(*q); }); });

  auto v = std::make_shared<VerifyOptions>();
  CLI::App* verify = attest_group.add_subcommand(
      "verify",
      "check a host's attestation document against its enrolled AK, the nonce and the release's "
      "predicted measurements (exit 4 when the host is not as built)");
  verify->add_option("--ak", v->ak, "the host's enrolled AK (PEM file)")->required();
  verify->add_option("--nonce", v->nonce, "the nonce sent to the host, hex")->required();
  verify
      ->add_option("--expect-pcr11", v->pcr11,
                   "an allowed PCR 11 value, hex (repeat for each boot phase)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  verify->add_option("--expect-uki-authenticode", v->uki_authenticode,
                     "the UKI's Authenticode SHA-256, hex: must be among PCR 4's EFI apps");
  verify->add_option("--release-name", v->release_name,
                     "the release expected, in messages (default: the host's claim)");
  auto* repo_opt = verify->add_option(
      "--repo", v->repo,
      "take the expectations from the signed release the host claims, in this repository (URL or "
      "directory)");
  auto* keys_opt = verify->add_option("--keys", v->keys,
                                      "trusted release keys: a directory of *.pem or one PEM file");
  verify->add_option("--threshold", v->threshold, "release signatures required (default 1)");
  repo_opt->needs(keys_opt);
  keys_opt->needs(repo_opt);
  for (const char* flag : {"--expect-pcr11", "--expect-uki-authenticode"}) {
    repo_opt->excludes(verify->get_option(flag));
  }
  verify->add_flag("--json", v->json, "machine-readable verdict");
  verify->add_option("DOC", v->document, "the attestation document")->required();
  verify->callback([&runner, v] { runner.Set([v] { return RunVerify(*v); }); });
}

}  // namespace basalt
