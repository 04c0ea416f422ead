// `basalt image build`'s uki step records each slot's measurements in image.json, taken from the
// UKI as written to the output directory (signed, when there is a key).
#include "uki_step.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "attest/uki_measurements.h"
#include "common/fd.h"
#include "common/hex.h"
#include "common/pe_sections.h"
#include "test_util.h"
#include "tpm/pcr_policy.h"
#include "tpm/pcr_policy_key.h"

namespace basalt::image {
namespace {

using basalt::testing::Quote;
using basalt::testing::Sh;
using basalt::testing::TempDir;

constexpr char kStub[] = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

class UkiStepMeasurementsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (auto missing = basalt::testing::MissingTool({"objcopy"}); !missing.empty()) {
      GTEST_SKIP() << missing << " (binutils) is not installed";
    }
    if (::access(kStub, R_OK) != 0) GTEST_SKIP() << kStub << " (systemd-boot-efi) is absent";
    ASSERT_EQ(::mkdir((dir_ / "work").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir_ / "out").c_str(), 0755), 0);
  }
  // Two slots of one release, the output in out/.
  UkiStepInputs Inputs() const {
    UkiStepInputs in;
    in.kernel_bytes = std::string(200001, 'k');
    in.initramfs = std::string(50001, 'i');
    in.os_name = "Basalt";
    in.slots[0] = {"1.2.3", "7130c94a-213a-4e5a-8e26-6cce9662f132", std::string(64, 'a'),
                   "console=ttyS0"};
    in.slots[1] = in.slots[0];
    in.slots[1].usr_partuuid = "8130c94a-213a-4e5a-8e26-6cce9662f132";
    in.source_date_epoch = 1700000000;
    in.boot_loader = *ReadFileToString("/usr/lib/systemd/boot/efi/systemd-bootx64.efi");
    in.work = dir_ / "work";
    in.out_dir = dir_ / "out";
    return in;
  }
  TempDir dir_;
};

TEST_P(UkiStepMeasurementsTest, ImageJsonHoldsEachSlotsMeasurements) {
  const bool sign = GetParam();
  UkiStepInputs in = Inputs();
  if (sign) {
    if (auto missing = basalt::testing::MissingTool({"sbsign", "sbverify", "openssl"});
        !missing.empty()) {
      GTEST_SKIP() << missing << " (Secure Boot signing) is not installed";
    }
    auto r = Sh("openssl req -new -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=db -keyout " +
                Quote(dir_ / "db.key") + " -out " + Quote(dir_ / "db.crt") + " 2>&1");
    ASSERT_EQ(r.status, 0) << r.output;
    in.signer = SecureBootSigner{dir_ / "db.key", dir_ / "db.crt"};
  }
  auto out = BuildSlotUkis(in);
  ASSERT_TRUE(out) << out.error().message();
  std::string pcr11[2];
  for (int i = 0; i < 2; ++i) {
    const std::string slot = i == 0 ? "A" : "B";
    const nlohmann::json& rec = out->record.at("uki").at(slot).at("measurements");
    auto bytes = ReadFileToString(dir_ / ("out/uki/" + slot + ".efi"));
    ASSERT_TRUE(bytes);
    auto m = attest::MeasureUki(*bytes);
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(rec.at("authenticode_sha256"), m->authenticode_sha256) << slot;
    EXPECT_EQ(rec.at("pcr11"), m->pcr11) << slot;
    EXPECT_EQ(rec.at("pcr11_phases").get<decltype(m->pcr11_phases)>(), m->pcr11_phases) << slot;
    pcr11[i] = m->pcr11;
  }
  // The slots' command lines differ (their PARTUUIDs), so do their PCR 11 values.
  EXPECT_NE(pcr11[0], pcr11[1]);
}

INSTANTIATE_TEST_SUITE_P(SignedAndUnsigned, UkiStepMeasurementsTest, ::testing::Bool());

// With a PCR policy key each UKI carries the key (.pcrpkey, measured) and one signed policy per
// PCR 11 value its boot passes through (.pcrsig), each a PolicyPCR digest of that value signed
// with the key: what `basalt attest unseal --uki` and systemd-cryptsetup use.
TEST_F(UkiStepMeasurementsTest, PcrPolicyKeySignsEachSlotsOwnPcr11Values) {
  auto key = tpm::CreatePcrPolicyKey(dir_ / "pcr-keys");
  ASSERT_TRUE(key) << key.error().message();
  UkiStepInputs in = Inputs();
  in.pcr_policy_key = key->private_key;
  auto out = BuildSlotUkis(in);
  ASSERT_TRUE(out) << out.error().message();
  auto public_pem = ReadFileToString(key->public_key);
  ASSERT_TRUE(public_pem);
  for (const char* slot : {"A", "B"}) {
    auto bytes = ReadFileToString(dir_ / (std::string("out/uki/") + slot + ".efi"));
    ASSERT_TRUE(bytes);
    constexpr std::array<std::string_view, 2> kNames = {".pcrpkey", ".pcrsig"};
    auto sections = ReadPeSections(*bytes, kNames);
    ASSERT_TRUE(sections) << sections.error().message();
    ASSERT_EQ(sections->size(), 2u) << slot;
    EXPECT_EQ(sections->at(".pcrpkey"), *public_pem) << slot;
    auto sig = tpm::ParsePcrSignature(sections->at(".pcrsig"));
    ASSERT_TRUE(sig) << sig.error().message();
    // The recorded measurements (taken from the final UKI) are exactly the signed values.
    const nlohmann::json& rec = out->record.at("uki").at(slot).at("measurements");
    std::set<std::vector<uint8_t>> expected;
    std::vector<std::string> values = {rec.at("pcr11").get<std::string>()};
    for (const auto& [phase, v] : rec.at("pcr11_phases").items())
      values.push_back(v);
    for (const std::string& hex : values) {
      tpm::PcrValue v;
      auto raw = FromHex(hex);
      ASSERT_TRUE(raw && raw->size() == 32);
      std::copy(raw->begin(), raw->end(), v.value.begin());
      auto pol = tpm::PolicyPcrDigest(std::span(&v, 1));
      ASSERT_TRUE(pol);
      expected.insert(std::vector<uint8_t>(pol->begin(), pol->end()));
    }
    std::set<std::vector<uint8_t>> signed_policies;
    for (const auto& e : sig->sha256) {
      EXPECT_EQ(e.pcrs, std::vector<uint32_t>{11});
      signed_policies.insert(e.policy);
    }
    EXPECT_EQ(signed_policies, expected) << slot;
    EXPECT_EQ(expected.size(), 1 + std::size(attest::kPcrPhases));
  }
  // A key that is not an RSA-2048 PEM private key fails the build, naming the file.
  ASSERT_EQ(::mkdir((dir_ / "out2").c_str(), 0755), 0);
  basalt::testing::WriteFile(dir_ / "not-a-key.pem", "hello");
  in.out_dir = dir_ / "out2";
  in.pcr_policy_key = dir_ / "not-a-key.pem";
  auto bad = BuildSlotUkis(in);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("not-a-key.pem"), std::string::npos)
      << bad.error().message();
}

}  // namespace
}  // namespace basalt::image
