// Sealing to the release key against a real TPM (swtpm): a secret sealed once unseals on every
// boot whose PCR 11 the key signed, across a TPM reset and an update, and on nothing else.
#include "tpm/seal.h"

#include <gtest/gtest.h>
#include <tss2/tss2_mu.h>

#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/fd.h"
#include "common/hex.h"
#include "swtpm.h"
#include "test_util.h"
#include "tpm/pcr_policy.h"

namespace basalt::tpm {
namespace {

using testing::Quote;
using testing::Sh;

class SealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Start();
    if (!ctx_) return;
    for (const char* name : {"release", "other"}) {
      auto r = Sh(fmt::format(
          "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {0}.pem && "
          "openssl pkey -in {0}.pem -pubout -out {0}.pub.pem",
          Quote(dir_ / name)));
      ASSERT_EQ(r.status, 0) << r.output;
    }
    release_pub_ = *ReadFileToString(dir_ / "release.pub.pem");
    other_pub_ = *ReadFileToString(dir_ / "other.pub.pem");
  }

  void Start() {
    std::string why;
    auto tpm = testing::Swtpm::Start(dir_ / "tpm", &why);
    if (!tpm) GTEST_SKIP() << why;
    swtpm_.emplace(std::move(*tpm));
    auto ctx = TpmContext::Open(swtpm_->tcti());
    ASSERT_TRUE(ctx) << ctx.error().message();
    ctx_.emplace(std::move(*ctx));
    pcr11_ = {};
  }

  // A reboot: the TPM restarts from its state directory, so its seeds (and so the SRK) stay and
  // its PCRs start again from zero.
  void Reboot() {
    ctx_.reset();
    swtpm_.reset();
    Start();
    ASSERT_TRUE(ctx_) << "swtpm did not come back";
  }

  // What systemd-stub does for each UKI section, and the value PCR 11 then holds.
  void Measure(std::string_view what) {
    const Sha256Digest m = Sha256(what);
    TPML_DIGEST_VALUES v = {};
    v.count = 1;
    v.digests[0].hashAlg = TPM2_ALG_SHA256;
    std::memcpy(v.digests[0].digest.sha256, m.data(), m.size());
    ASSERT_TRUE(TssCheck(Esys_PCR_Extend(ctx_->esys(), ESYS_TR_PCR11, ESYS_TR_PASSWORD,
                                         ESYS_TR_NONE, ESYS_TR_NONE, &v),
                         "PCR_Extend"));
    std::vector<uint8_t> cat(pcr11_.begin(), pcr11_.end());
    cat.insert(cat.end(), m.begin(), m.end());
    pcr11_ = Sha256(cat);
  }

  std::string Sign(const std::string& key, std::vector<Sha256Digest> values) {
    std::vector<PcrPolicyValue> v;
    for (const auto& d : values)
      v.push_back({.pcr = 11, .value = d});
    auto json = SignPcrPolicies(dir_ / (key + ".pem"), v);
    EXPECT_TRUE(json) << json.error().message();
    return json ? *json : "";
  }

  std::string Seal(std::string_view secret) {
    auto blob = SealToPolicyKey(*ctx_, release_pub_, secret);
    EXPECT_TRUE(blob) << blob.error().message();
    return blob ? *blob : "";
  }

  Result<std::string> Unseal(const std::string& blob, const std::string& sig,
                             const std::string* pub = nullptr) {
    return UnsealWithSignedPolicy(*ctx_, blob, pub ? *pub : release_pub_, sig);
  }

  testing::TempDir dir_;
  std::optional<testing::Swtpm> swtpm_;
  std::optional<TpmContext> ctx_;
  Sha256Digest pcr11_ = {};
  std::string release_pub_, other_pub_;
};

void ExpectPolicyRefusal(const Result<std::string>& r, std::string_view says = "") {
  ASSERT_FALSE(r) << "unsealed: " << *r;
  EXPECT_EQ(r.error().kind(), ErrorKind::kPolicy) << r.error().message();
  EXPECT_NE(r.error().message().find(says), std::string::npos) << r.error().message();
}

TEST_F(SealTest, SealedOnceUnsealsAfterAnUpdateWithoutResealing) {
  const std::string secret = "the disk key: 0123456789abcdef";
  const std::string blob = Seal(secret);
  Measure("v1 .linux");
  Measure("v1 .initrd");
  const Sha256Digest v1 = pcr11_;
  const std::string sig_v1 = Sign("release", {v1});
  auto got = Unseal(blob, sig_v1);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, secret);

  // The update: the next boot runs v2's UKI, whose release signed v2's PCR 11 with the same key.
  Reboot();
  Measure("v2 .linux");
  Measure("v2 .initrd");
  ASSERT_NE(pcr11_, v1);
  ExpectPolicyRefusal(Unseal(blob, sig_v1), "no signed policy for this boot's PCR 11");
  const std::string sig_v2 = Sign("release", {pcr11_});
  got = Unseal(blob, sig_v2);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, secret);
  // One .pcrsig may sign several values (boot phases, or two releases): the right one is picked.
  got = Unseal(blob, Sign("release", {v1, pcr11_}));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, secret);
}

TEST_F(SealTest, AModifiedBootIsRefused) {
  const std::string blob = Seal("s");
  Measure("v1 .linux");
  const std::string sig = Sign("release", {pcr11_});
  Measure("an extra section nobody signed");
  auto r = Unseal(blob, sig);
  ExpectPolicyRefusal(r, "no signed policy for this boot's PCR 11 (sha256 " + ToHex(pcr11_));
  if (!r) std::cout << "refusal: " << r.error().message() << "\n";
}

TEST_F(SealTest, APolicySignedByAnotherKeyIsRefused) {
  const std::string blob = Seal("s");
  Measure("v1 .linux");
  const std::string by_other = Sign("other", {pcr11_});
  // Signed by another key: no entry for the release key.
  ExpectPolicyRefusal(Unseal(blob, by_other), "no signed policy");
  // The other key's signature relabelled as the release key's: the TPM's VerifySignature refuses.
  auto forged = nlohmann::json::parse(by_other);
  auto release = PolicyPublicKey::FromPem(release_pub_);
  ASSERT_TRUE(release);
  forged["sha256"][0]["pkfp"] = ToHex(release->fingerprint());
  ExpectPolicyRefusal(Unseal(blob, forged.dump()), "verify the PCR policy signature");
  // The other key offered as the policy key, with its own valid signature: the blob is not
  // sealed to it.
  ExpectPolicyRefusal(Unseal(blob, by_other, &other_pub_), "sealed to policy key");
  // ... and with the blob's fingerprint relabelled too: its authPolicy still names the release
  // key.
  auto relabelled = nlohmann::json::parse(blob);
  auto other = PolicyPublicKey::FromPem(other_pub_);
  ASSERT_TRUE(other);
  relabelled["pkfp"] = ToHex(other->fingerprint());
  ExpectPolicyRefusal(Unseal(relabelled.dump(), by_other, &other_pub_), "not PolicyAuthorize");
}

TEST_F(SealTest, ATamperedSignatureIsRefused) {
  const std::string blob = Seal("s");
  Measure("v1 .linux");
  auto sig = nlohmann::json::parse(Sign("release", {pcr11_}));
  auto raw = *Base64Decode(sig["sha256"][0]["sig"].get<std::string>());
  raw[100] ^= 1;
  sig["sha256"][0]["sig"] = Base64Encode(raw);
  ExpectPolicyRefusal(Unseal(blob, sig.dump()), "verify the PCR policy signature");
  // A signature whose "pol" was changed to this boot's digest but not re-signed.
  Measure("modified");
  auto moved = nlohmann::json::parse(Sign("release", {Sha256("elsewhere")}));
  const PcrValue now{.index = 11, .value = pcr11_};
  moved["sha256"][0]["pol"] = ToHex(*PolicyPcrDigest(std::span(&now, 1)));
  ExpectPolicyRefusal(Unseal(blob, moved.dump()), "verify the PCR policy signature");
}

TEST_F(SealTest, ATamperedBlobIsRefused) {
  const std::string blob = Seal("s");
  Measure("v1 .linux");
  const std::string sig = Sign("release", {pcr11_});
  for (const char* field : {"private", "public"}) {
    auto doc = nlohmann::json::parse(blob);
    auto raw = *Base64Decode(doc[field].get<std::string>());
    raw[raw.size() - 5] ^= 1;  // inside the encrypted sensitive area / the object's unique
    doc[field] = Base64Encode(raw);
    auto r = Unseal(doc.dump(), sig);
    ASSERT_FALSE(r) << field;
    EXPECT_NE(r.error().message().find("load the sealed object"), std::string::npos)
        << r.error().message();
  }
  auto r = Unseal("{\"version\":1}", sig);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput) << r.error().message();
  auto extra = nlohmann::json::parse(blob);
  extra["x"] = 1;
  EXPECT_FALSE(Unseal(extra.dump(), sig));
  // Untouched, it unseals.
  EXPECT_TRUE(Unseal(blob, sig));
}

// The other direction of compatibility: a LUKS2 keyslot that systemd-cryptenroll 252 sealed with
// --tpm2-public-key to the same key carries our PolicyAuthorize digest, and its TPM objects
// unseal through our code (same SRK template, same policy) to the passphrase of that keyslot.
TEST_F(SealTest, SystemdCryptenrollSealsWhatWeUnseal) {
  const std::string missing = testing::MissingTool({"cryptsetup", "systemd-cryptenroll"});
  if (!missing.empty()) GTEST_SKIP() << missing << " is not installed";
  const std::string img = dir_ / "luks.img";
  auto r = Sh(fmt::format(
      "truncate -s 32M {0} && printf pw | cryptsetup luksFormat --type luks2 --batch-mode "
      "--pbkdf pbkdf2 --pbkdf-force-iterations 1000 {0} -",
      Quote(img)));
  ASSERT_EQ(r.status, 0) << r.output;
  // swtpm serves one client at a time: ours steps aside while systemd-cryptenroll runs.
  ctx_.reset();
  r =
      Sh(fmt::format("PASSWORD=pw systemd-cryptenroll --tpm2-device={} --tpm2-public-key={} "
                     "--tpm2-public-key-pcrs=11 --tpm2-pcrs= {}",
                     Quote(swtpm_->tcti()), Quote(dir_ / "release.pub.pem"), Quote(img)));
  ASSERT_EQ(r.status, 0) << r.output;
  auto ctx = TpmContext::Open(swtpm_->tcti());
  ASSERT_TRUE(ctx);
  ctx_.emplace(std::move(*ctx));
  r = Sh("cryptsetup luksDump --dump-json-metadata " + Quote(img) + " 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto token = nlohmann::json::parse(r.output).at("tokens").at("0");
  ASSERT_EQ(token.at("type"), "systemd-tpm2");
  ASSERT_EQ(token.at("tpm2-primary-alg"), "ecc");

  auto key = PolicyPublicKey::FromPem(release_pub_);
  ASSERT_TRUE(key);
  EXPECT_EQ(token.at("tpm2-policy-hash").get<std::string>(), ToHex(*PolicyAuthorizeDigest(*key)))
      << "systemd's authPolicy for this key differs from ours";

  // systemd's "tpm2-blob" is TPM2B_PRIVATE then TPM2B_PUBLIC; ours holds the same two.
  auto raw = *Base64Decode(token.at("tpm2-blob").get<std::string>());
  TPM2B_PRIVATE priv = {};
  TPM2B_PUBLIC pub = {};
  size_t off = 0;
  ASSERT_EQ(Tss2_MU_TPM2B_PRIVATE_Unmarshal(raw.data(), raw.size(), &off, &priv), 0u);
  const size_t priv_end = off;
  ASSERT_EQ(Tss2_MU_TPM2B_PUBLIC_Unmarshal(raw.data(), raw.size(), &off, &pub), 0u);
  ASSERT_EQ(off, raw.size());
  const nlohmann::json blob = {
      {"version", 1},
      {"bank", "sha256"},
      {"pcrs", {11}},
      {"pkfp", ToHex(key->fingerprint())},
      {"public", Base64Encode(std::span(raw).subspan(priv_end))},
      {"private", Base64Encode(std::span(raw).first(priv_end))},
  };
  Measure("a release's .linux");
  auto secret = Unseal(blob.dump(), Sign("release", {pcr11_}));
  ASSERT_TRUE(secret) << secret.error().message();
  // systemd-cryptenroll uses the base64 of the sealed secret as the keyslot's passphrase.
  testing::WriteFile(dir_ / "pass", Base64Encode(*secret));
  r = Sh(fmt::format("cryptsetup open --test-passphrase --key-slot 1 --key-file {} {}",
                     Quote(dir_ / "pass"), Quote(img)));
  EXPECT_EQ(r.status, 0) << "the unsealed secret does not open systemd's keyslot: " << r.output;
}

TEST_F(SealTest, SecretSizeIsBounded) {
  EXPECT_EQ(SealToPolicyKey(*ctx_, release_pub_, "").error().kind(), ErrorKind::kInvalidInput);
  EXPECT_EQ(SealToPolicyKey(*ctx_, release_pub_, std::string(129, 'x')).error().kind(),
            ErrorKind::kInvalidInput);
  const std::string max(kMaxSealedSecretBytes, '\xff');
  const std::string blob = Seal(max);
  Measure("v1");
  auto got = Unseal(blob, Sign("release", {pcr11_}));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, max);
}

}  // namespace
}  // namespace basalt::tpm
