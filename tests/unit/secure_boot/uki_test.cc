// BuildUki with the real systemd-stub and objcopy, and SignEfiBinary/VerifyEfiBinary with
// sbsign/sbverify on its output.
#include "image/uki.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>

#include "common/fd.h"
#include "common/pe_sections.h"
#include "image/secure_boot.h"
#include "test_util.h"

namespace basalt {
namespace {

using basalt::testing::Quote;
using basalt::testing::Sh;
using basalt::testing::TempDir;
using basalt::testing::WriteFile;

constexpr char kStub[] = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
constexpr char kCmdline[] =
    "basalt.usr=PARTUUID=7130c94a-213a-4e5a-8e26-6cce9662f132 "
    "basalt.usrhash=4f2b2e6a console=ttyS0";
constexpr char kOsRelease[] = "ID=basalt\nVERSION_ID=1.2.3\n";

class UkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = basalt::testing::MissingTool({"objcopy", "objdump"}); !missing.empty()) {
      GTEST_SKIP() << missing << " (binutils) is not installed";
    }
    if (::access(kStub, R_OK) != 0) GTEST_SKIP() << kStub << " (systemd-boot-efi) is absent";
    // Contents do not matter to objcopy; sizes that are not page multiples do.
    WriteFile(dir_ / "vmlinuz", std::string(300001, 'k'));
    WriteFile(dir_ / "initrd.img", std::string(70001, 'i'));
  }

  UkiInputs Inputs() const {
    return {kStub, dir_ / "vmlinuz", dir_ / "initrd.img", kOsRelease, kCmdline, 1700000000};
  }

  std::string Build(const std::string& name) {
    auto s = BuildUki(Inputs(), dir_ / name);
    EXPECT_TRUE(s) << s.error().message();
    return dir_ / name;
  }

  TempDir dir_;
};

TEST_F(UkiTest, SectionsReadBackAndAreListedByObjdump) {
  const std::string uki = Build("uki.efi");
  auto image = ReadFileToString(uki);
  ASSERT_TRUE(image);
  constexpr std::array<std::string_view, 4> kNames = {".osrel", ".cmdline", ".linux", ".initrd"};
  auto sections = ReadPeSections(*image, kNames);
  ASSERT_TRUE(sections) << sections.error().message();
  EXPECT_EQ(sections->at(".cmdline"), kCmdline);
  EXPECT_EQ(sections->at(".osrel"), kOsRelease);
  EXPECT_EQ(sections->at(".linux"), std::string(300001, 'k'));
  EXPECT_EQ(sections->at(".initrd"), std::string(70001, 'i'));

  auto h = ParsePeHeaders(*image);
  ASSERT_TRUE(h);
  // The stub's sections, then ours in order, page aligned and not overlapping.
  const auto& s = h->sections;
  ASSERT_GE(s.size(), 5u);
  const size_t first = s.size() - 4;
  for (size_t i = first; i < s.size(); ++i) {
    EXPECT_EQ(s[i].name, kNames[i - first]);
    EXPECT_EQ(s[i].virtual_address % 4096, 0u) << s[i].name;
    EXPECT_GE(s[i].virtual_address, s[i - 1].virtual_address + s[i - 1].virtual_size) << s[i].name;
  }
  auto objdump = Sh("objdump -h " + Quote(uki));
  ASSERT_EQ(objdump.status, 0) << objdump.output;
  for (auto name : kNames) {
    EXPECT_NE(objdump.output.find(" " + std::string(name) + " "), std::string::npos) << name;
  }
  // The header carries the source date epoch, not the build time, and a valid checksum.
  auto le32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
      v = v << 8 | static_cast<uint8_t>((*image)[at + i]);
    return v;
  };
  EXPECT_EQ(le32(h->timestamp_offset), 1700000000u);
  EXPECT_EQ(le32(h->checksum_offset), PeChecksum(*image, h->checksum_offset));
}

TEST_F(UkiTest, PcrPolicySectionsComeBeforeTheKernelAndOnlyWhenGiven) {
  UkiInputs in = Inputs();
  in.pcrpkey = "-----BEGIN PUBLIC KEY-----\nk\n-----END PUBLIC KEY-----\n";
  in.pcrsig = R"({"sha256":[]})";
  ASSERT_TRUE(BuildUki(in, dir_ / "policy.efi"));
  auto image = ReadFileToString(dir_ / "policy.efi");
  ASSERT_TRUE(image);
  auto h = ParsePeHeaders(*image);
  ASSERT_TRUE(h);
  std::vector<std::string> tail;
  for (size_t i = h->sections.size() - 6; i < h->sections.size(); ++i)
    tail.push_back(h->sections[i].name);
  EXPECT_EQ(tail, (std::vector<std::string>{".osrel", ".cmdline", ".pcrsig", ".pcrpkey", ".linux",
                                            ".initrd"}));
  constexpr std::array<std::string_view, 2> kPolicy = {".pcrsig", ".pcrpkey"};
  auto sections = ReadPeSections(*image, kPolicy);
  ASSERT_TRUE(sections);
  EXPECT_EQ(sections->at(".pcrpkey"), in.pcrpkey);
  EXPECT_EQ(sections->at(".pcrsig"), in.pcrsig);
  auto plain = ReadFileToString(Build("plain.efi"));
  ASSERT_TRUE(plain);
  auto none = ReadPeSections(*plain, kPolicy);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(UkiTest, TwoBuildsASecondApartAreIdentical) {
  const std::string a = Build("a.efi");
  // objcopy stamps the wall clock in seconds: a later second must not show in the output.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::string b = Build("b.efi");
  auto ab = ReadFileToString(a);
  auto bb = ReadFileToString(b);
  ASSERT_TRUE(ab && bb);
  EXPECT_TRUE(*ab == *bb) << "UKI builds differ";
  // And another epoch gives another stamp (the field is really ours).
  UkiInputs other = Inputs();
  other.source_date_epoch = 1;
  ASSERT_TRUE(BuildUki(other, dir_ / "c.efi"));
  EXPECT_NE(*ReadFileToString(dir_ / "c.efi"), *ab);
}

TEST_F(UkiTest, BadInputsAreRefusedAndLeaveNoOutput) {
  UkiInputs in = Inputs();
  in.kernel = dir_ / "missing";
  auto s = BuildUki(in, dir_ / "out.efi");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("missing"), std::string::npos);
  in = Inputs();
  in.source_date_epoch = -1;
  EXPECT_FALSE(BuildUki(in, dir_ / "out.efi"));
  in = Inputs();
  in.stub = dir_ / "vmlinuz";  // not a PE image
  s = BuildUki(in, dir_ / "out.efi");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("UKI stub"), std::string::npos) << s.error().message();
  EXPECT_NE(::access((dir_ / "out.efi").c_str(), F_OK), 0);
  // Nothing but the inputs is left behind (the scratch directory is gone).
  auto ls = Sh("ls -A " + Quote(dir_.path()));
  EXPECT_EQ(ls.output, "initrd.img\nvmlinuz\n");
}

class SecureBootSignTest : public UkiTest {
 protected:
  void SetUp() override {
    UkiTest::SetUp();
    if (IsSkipped()) return;
    if (auto missing = basalt::testing::MissingTool({"sbsign", "sbverify", "openssl"});
        !missing.empty()) {
      GTEST_SKIP() << missing << " is not installed";
    }
    for (const char* name : {"db", "other"}) {
      auto r = Sh(fmt::format(
          "openssl req -new -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN={0} -keyout {1}.key "
          "-out {1}.crt 2>&1",
          name, Quote(dir_ / name)));
      ASSERT_EQ(r.status, 0) << r.output;
    }
    uki_ = Build("uki.efi");
  }
  std::string uki_;
};

TEST_F(SecureBootSignTest, SignedVerifiesWithItsCertOnly) {
  ASSERT_TRUE(SignEfiBinary({dir_ / "db.key", dir_ / "db.crt"}, uki_, dir_ / "signed.efi"));
  auto ok = VerifyEfiBinary(dir_ / "db.crt", dir_ / "signed.efi");
  EXPECT_TRUE(ok) << ok.error().message();
  auto other = VerifyEfiBinary(dir_ / "other.crt", dir_ / "signed.efi");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind(), ErrorKind::kIntegrity);
  auto unsigned_uki = VerifyEfiBinary(dir_ / "db.crt", uki_);
  ASSERT_FALSE(unsigned_uki);
  EXPECT_EQ(unsigned_uki.error().kind(), ErrorKind::kIntegrity);
  EXPECT_NE(unsigned_uki.error().message().find(uki_), std::string::npos);
  // Signing appends a certificate table; the sections still read back as built.
  constexpr std::array<std::string_view, 2> kText = {".cmdline", ".osrel"};
  auto sections = ReadPeSections(*ReadFileToString(dir_ / "signed.efi"), kText);
  ASSERT_TRUE(sections) << sections.error().message();
  EXPECT_EQ(sections->at(".cmdline"), kCmdline);
  EXPECT_EQ(sections->at(".osrel"), kOsRelease);
  // The signature covers the embedded command line: one byte changed and it no longer verifies.
  auto image = *ReadFileToString(dir_ / "signed.efi");
  const size_t at = image.find("basalt.usrhash=4f");
  ASSERT_NE(at, std::string::npos);
  image[at + 15] = '5';
  WriteFile(dir_ / "tampered.efi", image);
  EXPECT_FALSE(VerifyEfiBinary(dir_ / "db.crt", dir_ / "tampered.efi"));
}

TEST_F(SecureBootSignTest, EncryptedKeyIsRefusedWithoutPrompting) {
  auto r = Sh("openssl pkey -in " + Quote(dir_ / "db.key") + " -aes256 -passout pass:x -out " +
              Quote(dir_ / "enc.key") + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  auto s = SignEfiBinary({dir_ / "enc.key", dir_ / "db.crt"}, uki_, dir_ / "signed.efi");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind(), ErrorKind::kUnsupported);
  EXPECT_NE(s.error().message().find("encrypted"), std::string::npos);
  EXPECT_NE(::access((dir_ / "signed.efi").c_str(), F_OK), 0);
}

TEST_F(SecureBootSignTest, MissingCertAndUnsignableInputFail) {
  EXPECT_EQ(VerifyEfiBinary(dir_ / "none.crt", uki_).error().kind(), ErrorKind::kNotFound);
  auto s = SignEfiBinary({dir_ / "db.key", dir_ / "db.crt"}, dir_ / "vmlinuz", dir_ / "x.efi");
  ASSERT_FALSE(s);
  EXPECT_NE(::access((dir_ / "x.efi").c_str(), F_OK), 0);
  EXPECT_NE(::access((dir_ / "x.efi.sbsign-tmp").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace basalt
