#include <gtest/gtest.h>

#include "common/hash.h"
#include "common/hex.h"

namespace basalt {
namespace {

// Digests of "abc" from FIPS 180-2 appendix examples.
TEST(HashTest, KnownAnswers) {
  EXPECT_EQ(ToHex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Hasher sha1(HashAlgorithm::kSha1);
  sha1.Update("abc");
  EXPECT_EQ(ToHex(sha1.Final()), "a9993e364706816aba3e25717850c26c9cd0d89d");
  Hasher sha512(HashAlgorithm::kSha512);
  sha512.Update("abc");
  EXPECT_EQ(ToHex(sha512.Final()).substr(0, 32), "ddaf35a193617abacc417349ae204131");
}

TEST(HashTest, CopyStateReusesPrefix) {
  Hasher prefix(HashAlgorithm::kSha256);
  prefix.Update("ab");
  Hasher h(HashAlgorithm::kSha256);
  h.CopyStateFrom(prefix);
  h.Update("c");
  EXPECT_EQ(ToHex(h.Final()), ToHex(Sha256("abc")));
}

TEST(HashTest, ParseNames) {
  EXPECT_EQ(*ParseHashAlgorithm("sha512"), HashAlgorithm::kSha512);
  auto bad = ParseHashAlgorithm("md5");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("md5"), std::string::npos);
}

}  // namespace
}  // namespace basalt
