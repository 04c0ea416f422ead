// The policy digests and the .pcrsig format, checked against the peers that define them:
// tpm2-tools trial sessions on a swtpm (what the TPM itself computes) and systemd-measure sign.
#include "tpm/pcr_policy.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/fd.h"
#include "common/hex.h"
#include "swtpm.h"
#include "test_util.h"

namespace basalt::tpm {
namespace {

using testing::Quote;
using testing::Sh;

Sha256Digest Digest(std::string_view hex) {
  auto raw = FromHex(hex);
  EXPECT_TRUE(raw && raw->size() == 32) << hex;
  Sha256Digest d = {};
  if (raw && raw->size() == 32) std::copy(raw->begin(), raw->end(), d.begin());
  return d;
}

// An RSA-2048 key pair written as PEM files in `dir` (k.pem, pub.pem).
void MakeKey(const testing::TempDir& dir, const std::string& name = "k") {
  auto r =
      Sh(fmt::format("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {} "
                     "&& openssl pkey -in {} -pubout -out {}",
                     Quote(dir / (name + ".pem")), Quote(dir / (name + ".pem")),
                     Quote(dir / (name + ".pub.pem"))));
  ASSERT_TRUE(r.status == 0) << r.output;
}

std::string Slurp(const std::string& path) {
  auto s = ReadFileToString(path);
  EXPECT_TRUE(s) << path;
  return s ? *s : "";
}

bool Verify(EVP_PKEY* key, std::span<const uint8_t> msg, std::span<const uint8_t> sig) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr, key, nullptr) == 1 &&
      EVP_DigestVerify(ctx, sig.data(), sig.size(), msg.data(), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

TEST(PcrPolicy, PolicyPcrDigestOfAllZeroPcr11) {
  // Fixed point, so a change in marshalling shows even without tpm2-tools.
  const PcrValue zero{.index = 11, .value = {}};
  auto d = PolicyPcrDigest(std::span(&zero, 1));
  ASSERT_TRUE(d) << d.error().message();
  auto again = PolicyPcrDigest(std::span(&zero, 1));
  EXPECT_EQ(*d, *again);
  EXPECT_FALSE(PolicyPcrDigest({}));
  const PcrValue bad{.index = 24, .value = {}};
  EXPECT_FALSE(PolicyPcrDigest(std::span(&bad, 1)));
}

class PcrPolicyPeer : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    auto tpm = testing::Swtpm::Start(dir_ / "tpm", &why);
    if (!tpm) GTEST_SKIP() << why;
    swtpm_.emplace(std::move(*tpm));
    if (!testing::HaveTool("tpm2_startauthsession")) {
      GTEST_SKIP() << "tpm2-tools is not installed (Debian package tpm2-tools)";
    }
  }
  testing::CommandResult Tool(const std::string& cmd) {
    return Sh(fmt::format("cd {} && export TPM2TOOLS_TCTI={} && {}", Quote(dir_.path()),
                          Quote(swtpm_->tcti()), cmd));
  }
  testing::TempDir dir_;
  std::optional<testing::Swtpm> swtpm_;
};

TEST_F(PcrPolicyPeer, PolicyPcrDigestMatchesTpmTrialSession) {
  const Sha256Digest value = Sha256("some PCR 11 value");
  testing::WriteFile(dir_ / "pcrs.bin",
                     std::string(reinterpret_cast<const char*>(value.data()), value.size()));
  auto r = Tool(
      "tpm2_startauthsession -S s.ctx && tpm2_policypcr -S s.ctx -l sha256:11 -f pcrs.bin -L "
      "pol.bin && tpm2_flushcontext s.ctx");
  ASSERT_TRUE(r.status == 0) << r.output;
  const PcrValue pcr{.index = 11, .value = value};
  auto ours = PolicyPcrDigest(std::span(&pcr, 1));
  ASSERT_TRUE(ours) << ours.error().message();
  EXPECT_EQ(ToHex(*ours),
            ToHex(std::span(reinterpret_cast<const uint8_t*>(Slurp(dir_ / "pol.bin").data()), 32)));
}

TEST_F(PcrPolicyPeer, PolicyAuthorizeDigestMatchesTpmTrialSession) {
  MakeKey(dir_);
  auto r = Tool(
      "tpm2_loadexternal -Q -C o -G rsa -u k.pub.pem -c key.ctx -n key.name && "
      "tpm2_startauthsession -S s.ctx && tpm2_policyauthorize -S s.ctx -L auth.pol -n key.name "
      "&& tpm2_flushcontext s.ctx");
  ASSERT_TRUE(r.status == 0) << r.output;
  auto key = PolicyPublicKey::LoadFile(dir_ / "k.pub.pem");
  ASSERT_TRUE(key) << key.error().message();
  const std::string name = Slurp(dir_ / "key.name");
  EXPECT_EQ(ToHex(std::span(key->name().name, key->name().size)),
            ToHex(std::span(reinterpret_cast<const uint8_t*>(name.data()), name.size())))
      << "the TPM's Name of the policy key (tpm2_loadexternal) differs from ours";
  auto ours = PolicyAuthorizeDigest(*key);
  ASSERT_TRUE(ours) << ours.error().message();
  const std::string pol = Slurp(dir_ / "auth.pol");
  EXPECT_EQ(ToHex(*ours),
            ToHex(std::span(reinterpret_cast<const uint8_t*>(pol.data()), pol.size())));
}

TEST_F(PcrPolicyPeer, SystemdMeasureSignAgreesWithOurPoliciesAndParser) {
  const char* measure = "/usr/lib/systemd/systemd-measure";
  if (access(measure, X_OK) != 0) GTEST_SKIP() << "systemd-measure is not installed (systemd)";
  MakeKey(dir_);
  testing::WriteFile(dir_ / "linux", "not really a kernel");
  auto calc = Sh(fmt::format("{} calculate --linux={} --bank=sha256 --json=short 2>{}", measure,
                             Quote(dir_ / "linux"), Quote(dir_ / "calc.err")));
  ASSERT_TRUE(calc.status == 0) << calc.output;
  auto sign = Sh(fmt::format(
      "{} sign --linux={} --bank=sha256 --private-key={} --public-key={} --tpm2-device={} 2>{}",
      measure, Quote(dir_ / "linux"), Quote(dir_ / "k.pem"), Quote(dir_ / "k.pub.pem"),
      Quote(swtpm_->tcti()), Quote(dir_ / "sign.err")));
  ASSERT_TRUE(sign.status == 0) << sign.output;
  auto sig = ParsePcrSignature(sign.output);
  ASSERT_TRUE(sig) << sig.error().message();
  auto key = PolicyPublicKey::LoadFile(dir_ / "k.pub.pem");
  ASSERT_TRUE(key) << key.error().message();
  const auto predicted = nlohmann::json::parse(calc.output).at("sha256");
  ASSERT_EQ(sig->sha256.size(), predicted.size());
  ASSERT_FALSE(predicted.empty());
  for (size_t i = 0; i < predicted.size(); ++i) {
    const PcrSignatureEntry& e = sig->sha256[i];
    EXPECT_EQ(e.pcrs, std::vector<uint32_t>{11});
    EXPECT_EQ(e.key_fingerprint, key->fingerprint()) << "pkfp";
    const PcrValue pcr{.index = 11, .value = Digest(predicted[i].at("hash").get<std::string>())};
    auto ours = PolicyPcrDigest(std::span(&pcr, 1));
    ASSERT_TRUE(ours);
    EXPECT_EQ(ToHex(e.policy), ToHex(*ours)) << "phase " << predicted[i].at("phase");
    EXPECT_TRUE(Verify(key->pkey(), e.policy, e.signature)) << "systemd's signature, entry " << i;
  }

  // And ours, for the same values, reads the same apart from the signature bytes (PKCS#1 v1.5
  // is deterministic, so those match too).
  std::vector<PcrPolicyValue> values;
  for (const auto& p : predicted) {
    values.push_back({.pcr = 11, .value = Digest(p.at("hash").get<std::string>())});
  }
  auto mine = SignPcrPolicies(dir_ / "k.pem", values);
  ASSERT_TRUE(mine) << mine.error().message();
  EXPECT_EQ(nlohmann::json::parse(*mine), nlohmann::json::parse(sign.output));

  // systemd-measure's default output (all four banks; the others' "pol" are still SHA-256
  // session digests) parses too, keeping the same sha256 entries.
  auto all = Sh(
      fmt::format("{} sign --linux={} --private-key={} --public-key={} --tpm2-device={} 2>{}",
                  measure, Quote(dir_ / "linux"), Quote(dir_ / "k.pem"), Quote(dir_ / "k.pub.pem"),
                  Quote(swtpm_->tcti()), Quote(dir_ / "sign-all.err")));
  ASSERT_EQ(all.status, 0) << all.output;
  ASSERT_TRUE(nlohmann::json::parse(all.output).contains("sha1"));
  auto all_sig = ParsePcrSignature(all.output);
  ASSERT_TRUE(all_sig) << all_sig.error().message();
  ASSERT_EQ(all_sig->sha256.size(), sig->sha256.size());
  for (size_t i = 0; i < sig->sha256.size(); ++i) {
    EXPECT_EQ(all_sig->sha256[i].policy, sig->sha256[i].policy);
  }
}

TEST(PcrPolicy, SignedPoliciesVerifyAndRoundTrip) {
  testing::TempDir dir;
  MakeKey(dir);
  const PcrPolicyValue v1{.pcr = 11, .value = Sha256("v1")};
  const PcrPolicyValue v2{.pcr = 11, .value = Sha256("v2")};
  const std::vector<PcrPolicyValue> values{v1, v2};
  auto json = SignPcrPolicies(dir / "k.pem", values);
  ASSERT_TRUE(json) << json.error().message();
  auto sig = ParsePcrSignature(*json);
  ASSERT_TRUE(sig) << sig.error().message();
  auto key = PolicyPublicKey::LoadFile(dir / "k.pub.pem");
  ASSERT_TRUE(key);
  ASSERT_EQ(sig->sha256.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const PcrValue pcr{.index = 11, .value = values[i].value};
    EXPECT_EQ(ToHex(sig->sha256[i].policy), ToHex(*PolicyPcrDigest(std::span(&pcr, 1))));
    EXPECT_TRUE(Verify(key->pkey(), sig->sha256[i].policy, sig->sha256[i].signature));
  }
}

TEST(PcrPolicy, KeysThatAreNotRsa2048AreRefused) {
  testing::TempDir dir;
  ASSERT_TRUE(Sh(fmt::format("openssl genpkey -algorithm ED25519 -out {0}/e.pem && openssl pkey "
                             "-in {0}/e.pem -pubout -out {0}/e.pub.pem && openssl genpkey "
                             "-algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out {0}/r.pem && "
                             "openssl pkey -in {0}/r.pem -pubout -out {0}/r.pub.pem",
                             Quote(dir.path())))
                  .status == 0);
  EXPECT_EQ(PolicyPublicKey::LoadFile(dir / "e.pub.pem").error().kind(), ErrorKind::kUnsupported);
  EXPECT_EQ(PolicyPublicKey::LoadFile(dir / "r.pub.pem").error().kind(), ErrorKind::kUnsupported);
  const PcrPolicyValue v{.pcr = 11, .value = {}};
  EXPECT_FALSE(SignPcrPolicies(dir / "e.pem", std::span(&v, 1)));
  EXPECT_FALSE(PolicyPublicKey::FromPem("not a key"));
}

TEST(PcrPolicy, ParserIsStrict) {
  const std::string fp(64, 'a');
  const std::string pol(64, 'b');
  auto doc = [&](const std::string& entry) { return "{\"sha256\":[" + entry + "]}"; };
  auto entry = [&](const std::string& pcrs, const std::string& sig, const std::string& extra) {
    return fmt::format(R"({{"pcrs":{},"pkfp":"{}","pol":"{}","sig":"{}"{}}})", pcrs, fp, pol, sig,
                       extra);
  };
  ASSERT_TRUE(ParsePcrSignature(doc(entry("[11]", "AAAA", ""))));
  EXPECT_TRUE(ParsePcrSignature(R"({"sha1":[{}],)" + doc(entry("[11]", "AAAA", "")).substr(1)));
  const std::vector<std::string> bad = {
      "",
      "[]",
      "{}",
      R"({"sha256":[]})",
      R"({"sha256":{}})",
      R"({"md5":[]})",
      doc(entry("[11]", "AAAA", R"(,"x":1)")),
      doc(entry("[]", "AAAA", "")),
      doc(entry("[24]", "AAAA", "")),
      doc(entry("[11,7]", "AAAA", "")),
      doc(entry("[11,11]", "AAAA", "")),
      doc(entry("[-1]", "AAAA", "")),
      doc(entry("[\"11\"]", "AAAA", "")),
      doc(entry("[11]", "", "")),
      doc(entry("[11]", "!!!!", "")),
      doc(entry("[11]", std::string(1000, 'A'), "")),
      doc(R"({"pcrs":[11],"pkfp":"AA","pol":")" + pol + R"(","sig":"AAAA"})"),
      doc(R"({"pcrs":[11],"pkfp":")" + fp + R"(","pol":"bb","sig":"AAAA"})"),
      doc(R"({"pcrs":[11],"pkfp":")" + fp + R"(","pol":")" + std::string(64, 'B') +
          R"(","sig":"AAAA"})"),
      std::string(kMaxPcrSignatureBytes + 1, ' '),
  };
  for (const auto& b : bad) {
    auto r = ParsePcrSignature(b);
    EXPECT_FALSE(r) << b.substr(0, 200);
    if (!r) {
      EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput) << r.error().message();
    }
  }
  std::string many = "{\"sha256\":[";
  for (size_t i = 0; i <= kMaxPcrSignatureEntries; ++i) {
    many += (i ? "," : "") + entry("[11]", "AAAA", "");
  }
  EXPECT_FALSE(ParsePcrSignature(many + "]}"));
}

}  // namespace
}  // namespace basalt::tpm
