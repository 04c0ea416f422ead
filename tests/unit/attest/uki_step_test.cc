// `basalt image build`'s uki step records each slot's measurements in image.json, taken from the
// UKI as written to the output directory (signed, when there is a key).
#include "uki_step.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/uki_measurements.h"
#include "common/fd.h"
#include "test_util.h"

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
  TempDir dir_;
};

TEST_P(UkiStepMeasurementsTest, ImageJsonHoldsEachSlotsMeasurements) {
  const bool sign = GetParam();
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

}  // namespace
}  // namespace basalt::image
