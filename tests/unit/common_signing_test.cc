#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/keyring.h"
#include "common/signing.h"

namespace basalt {
namespace {

class SigningTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(SigningTest, SignVerifyAndRejectTampering) {
  auto key = PrivateKey::Generate(GetParam());
  ASSERT_TRUE(key) << key.error().message();
  std::string msg = "release 1.2.3";
  auto sig = key->Sign(msg);
  ASSERT_TRUE(sig);
  auto bytes = std::span(reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  EXPECT_TRUE(key->public_key().Verify(bytes, *sig));
  std::string other = "release 1.2.4";
  EXPECT_FALSE(key->public_key().Verify(
      std::span(reinterpret_cast<const uint8_t*>(other.data()), other.size()), *sig));
  (*sig)[sig->size() / 2] ^= 1;
  auto bad = key->public_key().Verify(bytes, *sig);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::kIntegrity);
}

TEST_P(SigningTest, PemRoundTripKeepsKeyId) {
  auto key = PrivateKey::Generate(GetParam());
  ASSERT_TRUE(key);
  auto pem = key->ToPem();
  ASSERT_TRUE(pem);
  auto again = PrivateKey::FromPem(*pem);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id(), key->id());
  auto pub = PublicKey::FromPem(key->public_key().ToPem());
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->id(), key->id());
  EXPECT_EQ(pub->type(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(AllTypes, SigningTest,
                         ::testing::Values(KeyType::kEd25519, KeyType::kEcdsaP256,
                                           KeyType::kRsaPss));

// The key id must equal what any tool computes: SHA-256 of the DER SubjectPublicKeyInfo.
TEST(KeyIdTest, MatchesOpensslCommandLine) {
  auto key = PrivateKey::Generate(KeyType::kEd25519);
  ASSERT_TRUE(key);
  std::string dir =
      std::filesystem::temp_directory_path() / ("basalt-keyid-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomic(dir + "/k.pem", *key->ToPem(), 0600));
  std::string cmd =
      "openssl pkey -in " + dir + "/k.pem -pubout -outform DER 2>/dev/null | sha256sum";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[128] = {};
  ASSERT_NE(std::fgets(buf, sizeof(buf), p), nullptr);
  ::pclose(p);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(std::string(buf).substr(0, 64), key->id());
}

TEST(KeyringTest, ThresholdCountsDistinctTrustedKeys) {
  auto a = *PrivateKey::Generate(KeyType::kEd25519);
  auto b = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto untrusted = *PrivateKey::Generate(KeyType::kEd25519);
  Keyring ring;
  ring.Add(a.public_key());
  ring.Add(b.public_key());
  std::string msg = "payload manifest";
  auto m = std::span(reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  std::vector<Signature> sigs = {{a.id(), *a.Sign(msg)}, {a.id(), *a.Sign(msg)}};
  EXPECT_EQ(*ring.VerifyThreshold(m, sigs, 1), 1u);
  auto dup = ring.VerifyThreshold(m, sigs, 2);
  ASSERT_FALSE(dup) << "the same key twice must not meet a threshold of 2";
  sigs.push_back({b.id(), *b.Sign(msg)});
  EXPECT_EQ(*ring.VerifyThreshold(m, sigs, 2), 2u);

  std::vector<Signature> only_untrusted = {{untrusted.id(), *untrusted.Sign(msg)}};
  auto r = ring.VerifyThreshold(m, only_untrusted, 1);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not trusted"), std::string::npos) << r.error().message();
  auto none = ring.VerifyThreshold(m, {}, 1);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no signatures"), std::string::npos);
}

}  // namespace
}  // namespace basalt

namespace basalt {
namespace {

// Every --keys option takes a directory of *.pem or one PEM public key file.
TEST(KeyringTest, LoadsADirectoryOrOnePemFile) {
  auto a = *PrivateKey::Generate(KeyType::kEd25519);
  auto b = *PrivateKey::Generate(KeyType::kEcdsaP256);
  std::string dir =
      std::filesystem::temp_directory_path() / ("basalt-keyring-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir + "/trusted");
  ASSERT_TRUE(WriteFileAtomic(dir + "/trusted/a.pem", a.public_key().ToPem(), 0644));
  ASSERT_TRUE(WriteFileAtomic(dir + "/trusted/b.pem", b.public_key().ToPem(), 0644));
  ASSERT_TRUE(WriteFileAtomic(dir + "/private.pem", *a.ToPem(), 0600));

  auto both = Keyring::Load(dir + "/trusted");
  ASSERT_TRUE(both) << both.error().message();
  EXPECT_EQ(both->size(), 2u);
  auto one = Keyring::Load(dir + "/trusted/b.pem");
  ASSERT_TRUE(one) << one.error().message();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_NE(one->Find(b.id()), nullptr);
  auto missing = Keyring::Load(dir + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);
  EXPECT_FALSE(Keyring::Load(dir + "/private.pem"));  // a private key is not a trusted key
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace basalt
