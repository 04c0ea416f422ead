// ReadPeSections and ParsePeHeaders on images built here byte by byte (so each malformation is
// exactly one rule broken), and PeChecksum against the value objcopy writes.
#include "common/pe_sections.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

#include "common/fd.h"
#include "test_pe.h"
#include "test_util.h"

namespace basalt {
namespace {

using namespace basalt::testing;  // NOLINT: the PE builder and its layout constants

constexpr std::array<std::string_view, 2> kNames = {".cmdline", ".osrel"};

std::string ErrorOf(std::string_view image) {
  auto r = ReadPeSections(image, kNames);
  if (r) return "";
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
  return r.error().message();
}

TEST(PeSectionsTest, ReadsNamedSectionsTrimmedToVirtualSize) {
  std::string image = MakePe({{".text", "code"},
                              {".osrel", "ID=basalt\n"},
                              {".cmdline", std::string("a=b\0\0junk", 9), 5}});
  auto r = ReadPeSections(image, kNames);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(r->at(".osrel"), "ID=basalt\n");
  EXPECT_EQ(r->at(".cmdline"), std::string("a=b\0\0", 5));  // NULs are the caller's to trim
  auto h = ParsePeHeaders(image);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->section_alignment, 0x1000u);
  EXPECT_EQ(h->timestamp_offset, kPe + 8);
  EXPECT_EQ(h->checksum_offset, kPe + 88);
  ASSERT_EQ(h->sections.size(), 3u);
  EXPECT_EQ(h->sections[2].virtual_address, 0x3000u);
}

TEST(PeSectionsTest, VirtualSizeLargerThanRawDataReadsOnlyTheRawData) {
  std::string image = MakePe({{".osrel", "x", 0x10000}});
  auto r = ReadPeSections(image, kNames);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at(".osrel").size(), 0x200u);  // SizeOfRawData: the rest is zero-fill in memory
}

TEST(PeSectionsTest, MissingSectionIsAbsentNotAnError) {
  auto r = ReadPeSections(MakePe({{".text", "x"}}), kNames);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
}

TEST(PeSectionsTest, DuplicateRequestedSectionIsRefused) {
  EXPECT_NE(ErrorOf(MakePe({{".cmdline", "a"}, {".cmdline", "b"}})).find("more than once"),
            std::string::npos);
  // An unrequested duplicate is no concern of this reader.
  EXPECT_TRUE(ReadPeSections(MakePe({{".text", "a"}, {".text", "b"}}), kNames));
}

TEST(PeSectionsTest, TruncatedAndForeignHeadersAreRefused) {
  const std::string good = MakePe({{".osrel", "x"}});
  EXPECT_NE(ErrorOf("").find("MZ"), std::string::npos);
  EXPECT_NE(ErrorOf(good.substr(0, 63)).find("MZ"), std::string::npos);
  std::string elf = good;
  elf[0] = 0x7f;
  EXPECT_NE(ErrorOf(elf).find("MZ"), std::string::npos);
  // PE header offset past the end, or pointing at something else.
  std::string far = good;
  Put32(far, 0x3c, 0xfffffff0);
  EXPECT_NE(ErrorOf(far).find("past the end"), std::string::npos);
  EXPECT_NE(ErrorOf(good.substr(0, kPe + 10)).find("past the end"), std::string::npos);
  std::string nosig = good;
  nosig[kPe + 1] = 'X';
  EXPECT_NE(ErrorOf(nosig).find("signature"), std::string::npos);
  // Optional header cut short, too small, or PE32 instead of PE32+.
  EXPECT_NE(ErrorOf(good.substr(0, kOptional + 100)).find("optional header runs past"),
            std::string::npos);
  std::string small = good;
  Put16(small, kPe + 20, 96);
  EXPECT_NE(ErrorOf(small).find("shorter than PE32+"), std::string::npos);
  std::string pe32 = good;
  Put16(pe32, kOptional, 0x10b);
  EXPECT_NE(ErrorOf(pe32).find("not PE32+"), std::string::npos);
}

TEST(PeSectionsTest, SectionTableAndDataPastTheEndAreRefused) {
  const std::string good = MakePe({{".osrel", "x"}, {".cmdline", "y"}});
  std::string huge = good;
  Put16(huge, kPe + 6, 0xffff);
  EXPECT_NE(ErrorOf(huge).find("section table of 65535 sections"), std::string::npos);
  EXPECT_NE(ErrorOf(good.substr(0, kTable + 50)).find("section table"), std::string::npos);
  // The last section's data cut off; then a data pointer and a size that overflow 32 bits.
  EXPECT_NE(ErrorOf(good.substr(0, good.size() - 1)).find("section 1 (.cmdline) raw data"),
            std::string::npos);
  std::string wrap = good;
  Put32(wrap, kTable + 16, 0xffffffff);
  Put32(wrap, kTable + 20, 0x400);
  EXPECT_NE(ErrorOf(wrap).find("section 0 (.osrel)"), std::string::npos);
  std::string offset = good;
  Put32(offset, kTable + 40 + 20, 0xfffffe00);
  EXPECT_NE(ErrorOf(offset).find("section 1"), std::string::npos);
}

TEST(PeSectionsTest, ChecksumIgnoresTheFieldAndAddsTheLength) {
  std::string image = MakePe({{".osrel", "abc"}});
  const size_t at = kPe + 88;
  const uint32_t sum = PeChecksum(image, at);
  Put32(image, at, 0xdeadbeef);
  EXPECT_EQ(PeChecksum(image, at), sum);
  // An odd length counts the last byte as a word of its own.
  EXPECT_EQ(PeChecksum(std::string("\x01\x02\x03", 3), 100), 0x0201u + 0x03 + 3);
  // End-around carry: 0xffff + 0x0002 = 0x0001 with the carry folded in.
  EXPECT_EQ(PeChecksum(std::string("\xff\xff\x02\x00", 4), 100), 0x0002u + 4);
}

TEST(PeSectionsTest, ChecksumMatchesObjcopys) {
  const std::string stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
  if (!basalt::testing::HaveTool("objcopy")) GTEST_SKIP() << "objcopy is not installed";
  if (::access(stub.c_str(), R_OK) != 0) GTEST_SKIP() << stub << " (systemd-boot-efi) is absent";
  TempDir dir;
  basalt::testing::WriteFile(dir / "osrel", "ID=test\n");
  auto r = basalt::testing::Sh("objcopy --add-section .osrel=" + dir / "osrel" +
                               " --change-section-vma .osrel=0x20000 " + stub + " " + dir / "out");
  ASSERT_EQ(r.status, 0) << r.output;
  auto image = ReadFileToString(dir / "out");
  ASSERT_TRUE(image);
  auto h = ParsePeHeaders(*image);
  ASSERT_TRUE(h) << h.error().message();
  const auto& b = *image;
  const uint32_t stored = static_cast<uint8_t>(b[h->checksum_offset]) |
                          static_cast<uint8_t>(b[h->checksum_offset + 1]) << 8 |
                          static_cast<uint8_t>(b[h->checksum_offset + 2]) << 16 |
                          static_cast<uint32_t>(static_cast<uint8_t>(b[h->checksum_offset + 3]))
                              << 24;
  EXPECT_EQ(PeChecksum(b, h->checksum_offset), stored);
  auto sections = ReadPeSections(b, kNames);
  ASSERT_TRUE(sections);
  EXPECT_EQ(sections->at(".osrel"), "ID=test\n");
}

}  // namespace
}  // namespace basalt
