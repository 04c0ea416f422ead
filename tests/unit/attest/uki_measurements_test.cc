// PCR 11 as systemd-stub 252 measures a UKI, on hand-made PE images: values computed by hand
// (and by systemd-measure 252 once, recorded here), the stub's section order, and the images
// whose measurement is ambiguous.
#include "attest/uki_measurements.h"

#include <gtest/gtest.h>

#include "common/hash.h"
#include "common/hex.h"
#include "test_pe.h"

namespace basalt::attest {
namespace {

using basalt::testing::FakeSection;
using basalt::testing::MakePe;
using basalt::testing::Put32;

std::string Extend(const std::string& pcr_hex, std::string_view data) {
  std::string buf = std::string(reinterpret_cast<const char*>(FromHex(pcr_hex)->data()), 32);
  const Sha256Digest d = Sha256(data);
  buf.append(reinterpret_cast<const char*>(d.data()), d.size());
  return ToHex(Sha256(buf));
}

const std::string kZero(64, '0');

TEST(MeasureUkiTest, OneSectionMatchesSystemdMeasure) {
  // `systemd-measure calculate --linux=F --bank=sha256` with F holding "hello" (systemd 252).
  auto m = MeasureUki(MakePe({{".text", "code"}, {".linux", "hello"}}));
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->pcr11, "eb2f3013fc6da81f5795783ca2b10862830e65a4a7bb42a5407aba2a8a196efb");
  EXPECT_EQ(m->pcr11, Extend(Extend(kZero, std::string(".linux\0", 7)), "hello"));
  const std::map<std::string, std::string> expected = {
      {"enter-initrd", "3beb14c8ac6cf3653aca8ba376d2578ba48f3d7289899e61a7d91a324f5d1dc8"},
      {"enter-initrd:leave-initrd",
       "6ac850853b30ce19a491d5ccc14b0e6b696fdd8d724ce3dd4680d7e5fe33b071"},
      {"enter-initrd:leave-initrd:sysinit",
       "b9c1986ae9d9b90fc4959a88f53e6717c7a8d4bc85a56a67e2e1451dbc5db2fa"},
      {"enter-initrd:leave-initrd:sysinit:ready",
       "d47a2465a7d2f9689c8fe00d74e3d9ff3ed40bc5ca96563385c38ba04eee3b80"},
      // systemd-measure calculate --linux=hello --phase=sysinit --phase=sysinit:ready
      {"sysinit", "86b03c3ac890cbe40b4bf25b11afe96490cd52c82fbfb187dcaeee2fe58b75b2"},
      {"sysinit:ready", "66149164aeb4930ac0ec8df1406a6ebf682e4ca93cce821fa401560bc1f86f1b"},
  };
  EXPECT_EQ(m->pcr11_phases, expected);
  EXPECT_EQ(m->authenticode_sha256.size(), 64u);
  EXPECT_TRUE(CheckMeasurements(*m));
}

TEST(MeasureUkiTest, StubOrderNotFileOrderAndOnlyMeasuredSections) {
  // File order .osrel, .cmdline, .linux (as BuildUki writes them); the stub measures .linux
  // first. .pcrsig, .text and empty sections are not measured.
  auto m = MeasureUki(MakePe({{".text", "code"},
                              {".osrel", "ID=x\n"},
                              {".pcrsig", "{}"},
                              {".cmdline", "console=ttyS0"},
                              {".splash", ""},
                              {".linux", "hello"}}));
  ASSERT_TRUE(m) << m.error().message();
  std::string pcr = kZero;
  for (auto [name, data] : {std::pair<std::string_view, std::string_view>{".linux", "hello"},
                            {".osrel", "ID=x\n"},
                            {".cmdline", "console=ttyS0"}}) {
    pcr = Extend(Extend(pcr, std::string(name) + '\0'), data);
  }
  EXPECT_EQ(m->pcr11, pcr);
  EXPECT_EQ(m->pcr11_phases.at("enter-initrd"), Extend(pcr, "enter-initrd"));
  // The .linux-and-.osrel pair systemd-measure 252 was run on: .linux "hello", .osrel "ID=x\n".
  auto two = MeasureUki(MakePe({{".osrel", "ID=x\n"}, {".linux", "hello"}}));
  ASSERT_TRUE(two);
  EXPECT_EQ(two->pcr11_phases.at("enter-initrd"),
            "6c9504fbadc38050bad1dda1f631f742eba3139149fd32e160e0519d4b2a1b31");
}

TEST(MeasureUkiTest, NoMeasuredSectionsLeavesPcrAtZero) {
  auto m = MeasureUki(MakePe({{".text", "code"}}));
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->pcr11, kZero);
  EXPECT_EQ(m->pcr11_phases.at("enter-initrd"), Extend(kZero, "enter-initrd"));
}

TEST(MeasureUkiTest, VirtualSizeShorterThanRawDataIsWhatCounts) {
  // Raw data is padded to FileAlignment; the stub measures VirtualSize bytes.
  auto m = MeasureUki(MakePe({{".linux", std::string("hello") + std::string(100, 'x'), 5}}));
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->pcr11, "eb2f3013fc6da81f5795783ca2b10862830e65a4a7bb42a5407aba2a8a196efb");
}

TEST(MeasureUkiAttackTest, DuplicateLinuxIsRefused) {
  auto m = MeasureUki(MakePe({{".linux", "hello"}, {".linux", "other"}}));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(m.error().message().find("both count as .linux"), std::string::npos)
      << m.error().message();
}

TEST(MeasureUkiAttackTest, PrefixNameTheStubWouldTakeIsRefused) {
  // systemd-stub compares strlen(".linux") bytes: ".linuxXY" would replace the real .linux.
  auto m = MeasureUki(MakePe({{".linux", "hello"}, {".linuxXY", "evil"}}));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("\".linuxXY\""), std::string::npos) << m.error().message();
  // Alone it is what the stub measures as .linux.
  auto alone = MeasureUki(MakePe({{".linuxXY", "hello"}}));
  ASSERT_TRUE(alone) << alone.error().message();
  EXPECT_EQ(alone->pcr11, "eb2f3013fc6da81f5795783ca2b10862830e65a4a7bb42a5407aba2a8a196efb");
}

TEST(MeasureUkiAttackTest, SectionOutOfBoundsIsRefused) {
  std::string pe = MakePe({{".linux", "hello"}});
  Put32(pe, basalt::testing::kTable + 20, static_cast<uint32_t>(pe.size()));  // PointerToRawData
  auto m = MeasureUki(pe);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(m.error().message().find("runs past the end"), std::string::npos)
      << m.error().message();
}

TEST(MeasureUkiAttackTest, ZeroFilledTailIsRefused) {
  auto m = MeasureUki(MakePe({{".linux", "hello", 0x10000}}));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("beyond its SizeOfRawData"), std::string::npos)
      << m.error().message();
}

TEST(MeasureUkiAttackTest, NotAPeImageIsRefused) {
  for (std::string bad : {std::string(), std::string("MZ"), std::string(4096, 'x')}) {
    auto m = MeasureUki(bad);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().kind(), ErrorKind::kInvalidInput);
  }
}

TEST(CheckMeasurementsTest, ShapeRules) {
  auto good = MeasureUki(MakePe({{".linux", "hello"}}));
  ASSERT_TRUE(good);
  EXPECT_TRUE(CheckMeasurements(*good));
  auto m = *good;
  m.pcr11 = std::string(64, 'A');
  EXPECT_EQ(CheckMeasurements(m).error().message(), "pcr11: not 64 lower-case hex digits");
  m = *good;
  m.authenticode_sha256.pop_back();
  EXPECT_FALSE(CheckMeasurements(m));
  m = *good;
  m.pcr11_phases["shutdown"] = kZero;
  EXPECT_NE(CheckMeasurements(m).error().message().find("unknown phase \"shutdown\""),
            std::string::npos);
  m = *good;
  m.pcr11_phases.erase("enter-initrd");
  EXPECT_NE(CheckMeasurements(m).error().message().find("missing phase \"enter-initrd\""),
            std::string::npos);
  m = *good;
  m.pcr11_phases["enter-initrd"] = "00";
  EXPECT_NE(CheckMeasurements(m).error().message().find("pcr11_phases.enter-initrd"),
            std::string::npos);
}

}  // namespace
}  // namespace basalt::attest
