// The Authenticode image hash on hand-made PE images: which bytes it covers (computed here by
// hand from the layout), that a certificate table appended by signing does not change it, and
// the malformed images it refuses. The real-UKI comparison with pesign is uki_peer_test.cc.
#include "attest/authenticode.h"

#include <gtest/gtest.h>

#include "common/hash.h"
#include "test_pe.h"

namespace basalt::attest {
namespace {

using basalt::testing::kOptional;
using basalt::testing::kTable;
using basalt::testing::MakePe;
using basalt::testing::Put32;

constexpr size_t kCheckSum = kOptional + 64;
constexpr size_t kCertEntry = kOptional + 112 + 4 * 8;

// The bytes Authenticode covers in a MakePe image without a certificate table: everything but
// the CheckSum and the Certificate Table entry, in file order (MakePe's sections are in order
// and contiguous after the 0x400 bytes of headers).
Sha256Digest ByHand(const std::string& pe, size_t end) {
  std::string covered = pe.substr(0, kCheckSum) +
                        pe.substr(kCheckSum + 4, kCertEntry - kCheckSum - 4) +
                        pe.substr(kCertEntry + 8, end - kCertEntry - 8);
  return Sha256(covered);
}

// Appends a WIN_CERTIFICATE-like blob and points the Certificate Table entry at it, as sbsign
// does; also changes the CheckSum, as signing tools do.
std::string Sign(std::string pe, const std::string& blob) {
  Put32(pe, kCertEntry, static_cast<uint32_t>(pe.size()));
  Put32(pe, kCertEntry + 4, static_cast<uint32_t>(blob.size()));
  Put32(pe, kCheckSum, 0x12345678);
  return pe + blob;
}

TEST(AuthenticodeTest, CoversAllButCheckSumAndCertEntry) {
  const std::string pe = MakePe({{".text", "code"}, {".linux", std::string(700, 'k')}});
  auto d = AuthenticodeSha256(pe);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(*d, ByHand(pe, pe.size()));
  // The skipped fields do not count; any other header byte does.
  std::string other = pe;
  Put32(other, kCheckSum, 0xdeadbeef);
  Put32(other, kCertEntry, 0);  // (size stays 0: still "no table")
  EXPECT_EQ(*AuthenticodeSha256(other), *d);
  other = pe;
  other[kOptional + 2] ^= 1;  // LinkerMajor
  EXPECT_NE(*AuthenticodeSha256(other), *d);
  other = pe;
  other[pe.size() - 1] ^= 1;  // section padding is hashed too (SizeOfRawData)
  EXPECT_NE(*AuthenticodeSha256(other), *d);
}

TEST(AuthenticodeTest, SignedAndUnsignedHashAlike) {
  const std::string pe = MakePe({{".linux", "hello"}});
  const std::string blob(64, 's');
  auto unsigned_digest = AuthenticodeSha256(pe);
  auto signed_digest = AuthenticodeSha256(Sign(pe, blob));
  ASSERT_TRUE(unsigned_digest && signed_digest) << signed_digest.error().message();
  EXPECT_EQ(*unsigned_digest, *signed_digest);
}

TEST(AuthenticodeTest, SectionsInFileOrderAndTrailingDataHashed) {
  // Section table order differs from file order: hashing follows PointerToRawData.
  std::string pe = MakePe({{".a", std::string(512, 'a')}, {".b", std::string(512, 'b')}});
  auto in_order = AuthenticodeSha256(pe);
  ASSERT_TRUE(in_order);
  std::string swapped = pe;
  // Swap the two section headers (40 bytes each).
  const std::string first = swapped.substr(kTable, 40);
  swapped.replace(kTable, 40, swapped.substr(kTable + 40, 40));
  swapped.replace(kTable + 40, 40, first);
  auto reordered = AuthenticodeSha256(swapped);
  ASSERT_TRUE(reordered) << reordered.error().message();
  EXPECT_EQ(*reordered, ByHand(swapped, swapped.size()));
  // Data after the last section (not a certificate table) is covered.
  const std::string trailing = pe + "trailer";
  EXPECT_EQ(*AuthenticodeSha256(trailing), ByHand(trailing, trailing.size()));
  EXPECT_NE(*AuthenticodeSha256(trailing), *in_order);
  // ... and stays covered when a certificate table follows it.
  EXPECT_EQ(*AuthenticodeSha256(Sign(trailing, std::string(16, 's'))),
            *AuthenticodeSha256(trailing));
}

TEST(AuthenticodeAttackTest, MalformedImagesAreRefusedNamingTheRule) {
  const std::string pe = MakePe({{".a", std::string(512, 'a')}, {".b", std::string(512, 'b')}});
  auto expect_rule = [](const std::string& image, std::string_view rule) {
    auto d = AuthenticodeSha256(image);
    ASSERT_FALSE(d) << rule;
    EXPECT_EQ(d.error().kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(d.error().message().find(rule), std::string::npos) << d.error().message();
    EXPECT_EQ(d.error().message().find('\n'), std::string::npos);
  };
  std::string bad = pe;
  Put32(bad, kOptional + 60, static_cast<uint32_t>(pe.size() + 1));
  expect_rule(bad, "SizeOfHeaders runs past the end");
  bad = pe;
  Put32(bad, kOptional + 60, static_cast<uint32_t>(kTable + 40));
  expect_rule(bad, "SizeOfHeaders does not cover the section table");
  bad = pe;
  Put32(bad, kTable + 40 + 20, 0x400 + 256);  // .b starts inside .a
  expect_rule(bad, "overlaps the headers or the previous section");
  bad = pe;
  Put32(bad, kTable + 20, 0x200);  // .a starts inside the headers
  expect_rule(bad, "overlaps the headers");
  bad = Sign(pe, std::string(16, 's'));
  Put32(bad, kCertEntry + 4, 8);  // table says 8 bytes, 16 follow
  expect_rule(bad, "certificate table does not end the image");
  bad = pe;
  Put32(bad, kCertEntry, 0x400);  // the table would be .a's data
  Put32(bad, kCertEntry + 4, static_cast<uint32_t>(pe.size() - 0x400));
  expect_rule(bad, "certificate table overlaps");
  bad = pe;
  Put32(bad, kCertEntry, 0xfffffff0);  // offset + size overflows 32 bits
  Put32(bad, kCertEntry + 4, 0x20);
  expect_rule(bad, "certificate table does not end the image");
  expect_rule(pe.substr(0, 0x300), "runs past the end");
}

}  // namespace
}  // namespace basalt::attest
