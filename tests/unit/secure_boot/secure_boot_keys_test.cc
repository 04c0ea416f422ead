// CreateSecureBootKeys and `basalt keys secure-boot`: the certificates verify, db signs what
// sbverify accepts, and the .auth files are EFI_VARIABLE_AUTHENTICATION_2 updates.
#include "image/secure_boot_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "common/fd.h"
#include "image/secure_boot.h"
#include "test_util.h"

namespace basalt {
namespace {

using basalt::testing::Quote;
using basalt::testing::Sh;
using basalt::testing::TempDir;

constexpr const char* kRoles[] = {"PK", "KEK", "db"};

class SecureBootKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto missing = basalt::testing::MissingTool(
        {"cert-to-efi-sig-list", "sign-efi-sig-list", "sbsign", "sbverify", "openssl"});
    if (!missing.empty()) GTEST_SKIP() << missing << " is not installed";
  }
  TempDir dir_;
};

TEST_F(SecureBootKeysTest, CertificatesVerifyAndDbSignsWhatSbverifyAccepts) {
  const std::string keys = dir_ / "keys";
  auto set = CreateSecureBootKeys(keys, "Test Fleet");
  ASSERT_TRUE(set) << set.error().message();
  EXPECT_EQ(set->files.size(), 13u);
  EXPECT_EQ(set->owner_guid.size(), 36u);
  EXPECT_EQ(*ReadFileToString(keys + "/owner.guid"), set->owner_guid + "\n");
  for (const char* role : kRoles) {
    const std::string crt = keys + "/" + role + ".crt";
    auto verify = Sh("openssl verify -CAfile " + Quote(crt) + " " + Quote(crt) + " 2>&1");
    EXPECT_EQ(verify.status, 0) << verify.output;
    auto text = Sh("openssl x509 -noout -subject -enddate -text -in " + Quote(crt));
    EXPECT_NE(text.output.find("CN = Test Fleet " + std::string(role)), std::string::npos)
        << text.output;
    EXPECT_NE(text.output.find("Public-Key: (2048 bit)"), std::string::npos);
    EXPECT_NE(text.output.find("sha256WithRSAEncryption"), std::string::npos);
    // Ten years: notAfter lies beyond nine years from now and before eleven.
    EXPECT_EQ(Sh("openssl x509 -noout -checkend 283824000 -in " + Quote(crt)).status, 0);
    EXPECT_NE(Sh("openssl x509 -noout -checkend 347126400 -in " + Quote(crt)).status, 0);
    struct stat st;
    ASSERT_EQ(::stat((keys + "/" + role + ".key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << role;
  }
  // No scratch directory is left beside the keys.
  EXPECT_EQ(Sh("ls -A " + Quote(keys) + " | wc -l").output, "13\n");

  // db signs an EFI binary that sbverify accepts with db.crt and refuses with PK.crt.
  const std::string stub = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
  if (::access(stub.c_str(), R_OK) != 0) GTEST_SKIP() << stub << " (systemd-boot-efi) is absent";
  ASSERT_TRUE(SignEfiBinary({keys + "/db.key", keys + "/db.crt"}, stub, dir_ / "signed.efi"));
  auto ok = VerifyEfiBinary(keys + "/db.crt", dir_ / "signed.efi");
  EXPECT_TRUE(ok) << ok.error().message();
  EXPECT_FALSE(VerifyEfiBinary(keys + "/PK.crt", dir_ / "signed.efi"));
}

TEST_F(SecureBootKeysTest, AuthFilesAreAuthenticatedVariableUpdates) {
  const std::string keys = dir_ / "keys";
  ASSERT_TRUE(CreateSecureBootKeys(keys, "Basalt"));
  // EFI_CERT_TYPE_PKCS7_GUID {4aafd29d-68df-49ee-8aa9-347d375665a7} as stored (mixed endian).
  constexpr std::array<uint8_t, 16> kPkcs7Guid = {0x9d, 0xd2, 0xaf, 0x4a, 0xdf, 0x68, 0xee, 0x49,
                                                  0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7};
  for (const char* role : kRoles) {
    auto auth = ReadFileToString(keys + "/" + role + ".auth");
    auto esl = ReadFileToString(keys + "/" + role + ".esl");
    ASSERT_TRUE(auth && esl);
    ASSERT_GT(auth->size(), 40u);
    auto byte = [&](size_t i) { return static_cast<uint8_t>((*auth)[i]); };
    // A 16-byte EFI_TIME (year >= 2000, month 1-12), then WIN_CERTIFICATE_UEFI_GUID: dwLength,
    // wRevision 0x0200, wCertificateType 0x0EF1 (WIN_CERT_TYPE_EFI_GUID), CertType.
    EXPECT_GE(byte(0) | byte(1) << 8, 2000) << role;
    EXPECT_TRUE(byte(2) >= 1 && byte(2) <= 12) << role;
    const uint32_t length = byte(16) | byte(17) << 8 | byte(18) << 16 | uint32_t{byte(19)} << 24;
    EXPECT_EQ(byte(20) | byte(21) << 8, 0x0200) << role;
    EXPECT_EQ(byte(22) | byte(23) << 8, 0x0ef1) << role;
    for (size_t i = 0; i < kPkcs7Guid.size(); ++i)
      EXPECT_EQ(byte(24 + i), kPkcs7Guid[i]) << role << " byte " << i;
    // The signature list follows the authentication header unchanged.
    ASSERT_EQ(auth->size(), 16 + length + esl->size()) << role;
    EXPECT_EQ(auth->substr(16 + length), *esl) << role;
  }
}

TEST_F(SecureBootKeysTest, ExistingFilesAreNeverOverwritten) {
  const std::string keys = dir_ / "keys";
  basalt::testing::WriteFile(keys + "/db.crt", "mine");
  auto set = CreateSecureBootKeys(keys, "Basalt");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().kind(), ErrorKind::kPolicy);
  EXPECT_NE(set.error().message().find("db.crt"), std::string::npos);
  EXPECT_EQ(*ReadFileToString(keys + "/db.crt"), "mine");
  EXPECT_EQ(Sh("ls -A " + Quote(keys)).output, "db.crt\n");
}

TEST_F(SecureBootKeysTest, CliWritesJsonAndRefusesASecondRun) {
  const char* bin_dir = std::getenv("BASALT_BIN_DIR");
  ASSERT_NE(bin_dir, nullptr);
  const std::string basalt = std::string(bin_dir) + "/basalt";
  const std::string keys = dir_ / "keys";
  auto r = Sh(Quote(basalt) + " keys secure-boot --output " + Quote(keys) +
              " --common-name 'Lab' --json 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.output;
  auto doc = nlohmann::json::parse(r.output);
  EXPECT_EQ(doc["files"].size(), 13u);
  EXPECT_EQ(doc["files"][0], keys + "/PK.key");
  EXPECT_EQ(doc["owner_guid"].get<std::string>() + "\n", *ReadFileToString(keys + "/owner.guid"));
  auto again = Sh(Quote(basalt) + " keys secure-boot --output " + Quote(keys) + " 2>&1");
  EXPECT_EQ(again.status, 5) << again.output;  // kExitPolicy
  EXPECT_NE(again.output.find("never overwritten"), std::string::npos);
  auto help = Sh(Quote(basalt) + " keys secure-boot --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.output.find("--common-name"), std::string::npos);
}

}  // namespace
}  // namespace basalt
