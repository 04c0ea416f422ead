#include <gtest/gtest.h>

#include "daemon/measured_boot.h"

namespace basalt::update {
namespace {

const std::string kStub(64, 'a'), kReady(64, 'b'), kOther(64, 'c');

TEST(MeasuredBoot, Table) {
  const MeasuredBootExpectation b2{.version = "2.0", .slot = "B", .pcr11 = {kStub, kReady}};
  const Result<std::string> no_tpm = Failf(ErrorKind::kIo, "TPM transport device:/dev/tpmrm0");
  struct Row {
    const char* what;
    std::optional<MeasuredBootExpectation> expectation;
    const char* version;
    const char* slot;
    Result<std::string> measured;
    const char* code;
    bool alarming;
  };
  const Row rows[] = {
      {"the stub's value", b2, "2.0", "B", kStub, "as-predicted", false},
      {"after the boot phases", b2, "2.0", "B", kReady, "as-predicted", false},
      {"a modified boot", b2, "2.0", "B", kOther, "differs", true},
      {"rolled back to A", b2, "1.0", "A", kOther, "no-prediction", false},
      {"same version, other slot", b2, "2.0", "A", kStub, "no-prediction", false},
      {"a factory image", std::nullopt, "1.0", "A", kStub, "no-prediction", false},
      {"no TPM", b2, "2.0", "B", no_tpm, "no-tpm", false},
  };
  for (const Row& r : rows) {
    const MeasuredBootReport got = JudgeMeasuredBoot(r.expectation, r.version, r.slot, r.measured);
    EXPECT_EQ(got.code, r.code) << r.what;
    EXPECT_EQ(got.alarming, r.alarming) << r.what;
    if (r.measured) {
      EXPECT_EQ(got.pcr11, *r.measured) << r.what;
    }
  }
}

TEST(MeasuredBoot, AMismatchNamesBothSides) {
  const MeasuredBootExpectation b2{.version = "2.0", .slot = "B", .pcr11 = {kStub}};
  const MeasuredBootReport got = JudgeMeasuredBoot(b2, "2.0", "B", kOther);
  EXPECT_NE(got.message.find(kOther), std::string::npos) << got.message;
  EXPECT_NE(got.message.find("release 2.0 (slot B)"), std::string::npos) << got.message;
}

}  // namespace
}  // namespace basalt::update
