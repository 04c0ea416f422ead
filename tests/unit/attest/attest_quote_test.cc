// The quote path end to end against a real TPM (swtpm): the AK, PCR 11 extended as systemd-stub
// extends it, a quote with a nonce, a document with an event log that records those extends,
// and the verifier's verdicts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "attest/event_log.h"
#include "attest/quote_document.h"
#include "attest/verify.h"
#include "common/atomic_file.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/signing.h"
#include "quote_fixture.h"
#include "swtpm.h"
#include "test_util.h"
#include "tpm/attestation_key.h"
#include "tpm/pcrs.h"
#include "tpm/quote.h"

namespace basalt::attest {
namespace {

const std::vector<int> kPcrs = {4, 7, 11};

Status Extend(const tpm::TpmContext& t, uint32_t pcr, const Sha256Digest& digest) {
  TPML_DIGEST_VALUES values = {};
  values.count = 1;
  values.digests[0].hashAlg = TPM2_ALG_SHA256;
  std::copy(digest.begin(), digest.end(), values.digests[0].digest.sha256);
  return tpm::TssCheck(Esys_PCR_Extend(t.esys(), ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &values),
                       "PCR_Extend");
}

class AttestQuote : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    auto swtpm = testing::Swtpm::Start(dir_.path() + "/tpm", &why);
    if (!swtpm) GTEST_SKIP() << why;
    swtpm_.emplace(std::move(*swtpm));
    auto ctx = tpm::TpmContext::Open(swtpm_->tcti());
    ASSERT_TRUE(ctx) << ctx.error().message();
    tpm_.emplace(std::move(*ctx));
  }

  // Boots "a UKI": systemd-stub's PCR 11 extends, recorded in the log as it would record them.
  void BootUki() {
    for (const LogEvent& ev : testing::StubEvents({{".linux", "kernel image"},
                                                   {".osrel", "ID=basalt\nVERSION_ID=2.0\n"},
                                                   {".cmdline", "usrhash=00ff"}})) {
      ASSERT_TRUE(Extend(*tpm_, ev.pcr, ev.sha256));
      log_.events.push_back(ev);
    }
  }

  AttestationDocument Attest(std::span<const uint8_t> nonce) {
    auto ak = tpm::CreateAttestationKey(*tpm_);
    EXPECT_TRUE(ak) << ak.error().message();
    auto quote = tpm::QuotePcrs(*tpm_, ak->handle, nonce, kPcrs);
    EXPECT_TRUE(quote) << quote.error().message();
    AttestationDocument doc;
    doc.host = "node-7";
    doc.claim_version = "2.0";
    doc.claim_slot = "B";
    doc.ak_pem = ak->public_pem;
    doc.nonce.assign(nonce.begin(), nonce.end());
    doc.attest = quote->attest;
    doc.signature = quote->signature;
    for (const auto& [pcr, value] : quote->pcrs)
      doc.pcrs[static_cast<uint32_t>(pcr)] = value;
    doc.event_log = SerializeEventLog(log_);
    return doc;
  }

  testing::TempDir dir_;
  std::optional<testing::Swtpm> swtpm_;
  std::optional<tpm::TpmContext> tpm_;
  EventLog log_;
};

TEST_F(AttestQuote, TheAkIsTheSameKeyEveryTime) {
  auto a = tpm::CreateAttestationKey(*tpm_);
  ASSERT_TRUE(a) << a.error().message();
  auto b = tpm::CreateAttestationKey(*tpm_);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(a->public_pem, b->public_pem);
  auto key = PublicKey::FromPem(a->public_pem);
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(key->type(), KeyType::kEcdsaP256);
}

TEST_F(AttestQuote, PcrsReadAsExtended) {
  BootUki();
  auto pcrs = tpm::ReadPcrs(*tpm_, kPcrs);
  ASSERT_TRUE(pcrs) << pcrs.error().message();
  EXPECT_EQ(pcrs->at(4), std::string(64, '0'));
  EXPECT_EQ(pcrs->at(11), ToHex(Replay(log_).at(11)));
}

TEST_F(AttestQuote, AQuoteOfTheBootVerifies) {
  BootUki();
  const std::vector<uint8_t> nonce(32, 0x5a);
  AttestationDocument doc = Attest(nonce);
  auto parsed = ParseAttestationDocument(FormatAttestationDocument(doc));
  ASSERT_TRUE(parsed) << parsed.error().message();

  VerifyInputs in;
  in.enrolled_ak_pem = doc.ak_pem;
  in.nonce = nonce;
  in.expected.release_name = "2.0";
  in.expected.pcr11 = {ToHex(Replay(log_).at(11))};
  Verdict v = VerifyAttestation(*parsed, in);
  std::string dump;
  for (const Finding& f : v.findings)
    dump += f.code + ": " + f.message + "\n";
  EXPECT_TRUE(v.ok) << v.summary << "\n" << dump;
  EXPECT_EQ(v.summary, "host node-7 runs release 2.0 (slot B) as built");

  // Another nonce: the quote is not this request's.
  VerifyInputs replay = in;
  replay.nonce.assign(32, 0x5b);
  v = VerifyAttestation(*parsed, replay);
  EXPECT_FALSE(v.ok);
  EXPECT_TRUE(std::ranges::any_of(v.findings, [](const Finding& f) {
    return f.code == "nonce" && !f.ok && f.message.starts_with("nonce differs: quote is not fresh");
  })) << dump;

  // Another enrolled key (another host's AK): refused.
  auto other = PrivateKey::Generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(other);
  VerifyInputs other_ak = in;
  other_ak.enrolled_ak_pem = other->public_key().ToPem();
  v = VerifyAttestation(*parsed, other_ak);
  EXPECT_FALSE(v.ok);
  EXPECT_TRUE(std::ranges::any_of(
      v.findings, [](const Finding& f) { return f.code == "ak-mismatch" && !f.ok; }));
  EXPECT_TRUE(std::ranges::any_of(v.findings,
                                  [](const Finding& f) { return f.code == "signature" && !f.ok; }));

  // A PCR 11 the release does not predict (another UKI booted): refused naming both values.
  VerifyInputs other_release = in;
  const std::string predicted = ToHex(Sha256("another UKI"));
  other_release.expected.pcr11 = {predicted};
  v = VerifyAttestation(*parsed, other_release);
  EXPECT_FALSE(v.ok);
  auto f = std::ranges::find_if(v.findings, [](const Finding& f) { return f.code == "pcr11"; });
  ASSERT_NE(f, v.findings.end());
  EXPECT_FALSE(f->ok);
  EXPECT_EQ(f->message,
            "PCR 11 is " + doc.pcrs.at(11) + "; release 2.0 slot B predicts " + predicted);
}

TEST_F(AttestQuote, AnEventLogThatHidesAnExtendIsRefused) {
  BootUki();
  ASSERT_TRUE(Extend(*tpm_, 11, Sha256("enter-initrd")));  // not in the log
  const std::vector<uint8_t> nonce(16, 1);
  AttestationDocument doc = Attest(nonce);
  VerifyInputs in;
  in.enrolled_ak_pem = doc.ak_pem;
  in.nonce = nonce;
  in.expected.pcr11 = {doc.pcrs.at(11)};
  Verdict v = VerifyAttestation(doc, in);
  EXPECT_FALSE(v.ok);
  EXPECT_TRUE(std::ranges::any_of(v.findings,
                                  [](const Finding& f) { return f.code == "event-log" && !f.ok; }));
}

// The CLI as an operator and a host use it: enroll, quote with a nonce, verify (exit 0), then
// the refusals with their documented exit code and one error line.
TEST_F(AttestQuote, CliEnrollQuoteVerify) {
  const char* bin_dir = std::getenv("BASALT_BIN_DIR");
  ASSERT_NE(bin_dir, nullptr);
  const std::string basalt = std::string(bin_dir) + "/basalt";
  const std::string tcti = testing::Quote(swtpm_->tcti());
  BootUki();
  const std::string log = dir_ / "log.bin";
  const auto log_bytes = SerializeEventLog(log_);
  ASSERT_TRUE(WriteFileAtomic(log, log_bytes));
  const std::string ak = dir_ / "ak.pem";
  const std::string doc = dir_ / "doc.json";
  const std::string nonce(64, 'e');
  const std::string pcr11 = ToHex(Replay(log_).at(11));

  auto r = testing::Sh(testing::Quote(basalt) + " attest ak --tcti " + tcti + " --output " +
                       testing::Quote(ak));
  ASSERT_EQ(r.status, 0) << r.output;
  r = testing::Sh(testing::Quote(basalt) + " attest quote --tcti " + tcti + " --nonce " + nonce +
                  " --pcrs 4,7,11 --event-log " + testing::Quote(log) +
                  " --claim-version 2.0 --claim-slot b --output " + testing::Quote(doc));
  ASSERT_EQ(r.status, 0) << r.output;

  const std::string verify = testing::Quote(basalt) + " attest verify --ak " + testing::Quote(ak) +
                             " --release-name 2.0 --expect-pcr11 " + std::string(64, '1') +
                             " --expect-pcr11 " + pcr11 + " ";
  r = testing::Sh(verify + "--nonce " + nonce + " " + testing::Quote(doc) + " 2>&1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(r.output.ends_with("runs release 2.0 (slot B) as built\n")) << r.output;

  r = testing::Sh(verify + "--nonce " + std::string(64, 'f') + " " + testing::Quote(doc) +
                  " 2>&1 >/dev/null");
  EXPECT_EQ(r.status, 4) << r.output;  // kExitIntegrity: not as built
  EXPECT_TRUE(r.output.starts_with("basalt: error: host ")) << r.output;
  EXPECT_NE(r.output.find("nonce failed"), std::string::npos) << r.output;
  EXPECT_EQ(std::ranges::count(r.output, '\n'), 1) << r.output;

  r = testing::Sh(verify + "--nonce " + nonce + " --json " + testing::Quote(doc));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\"ok\":true"), std::string::npos) << r.output;

  ASSERT_TRUE(WriteFileAtomic(doc, std::string_view("{\"format\":\"basalt-attestation\"}")));
  r = testing::Sh(verify + "--nonce " + nonce + " " + testing::Quote(doc) + " 2>&1");
  EXPECT_EQ(r.status, 3) << r.output;  // kExitInvalidInput
}

}  // namespace
}  // namespace basalt::attest
