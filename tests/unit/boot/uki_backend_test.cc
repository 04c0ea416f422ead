// The uki backend on an in-memory ESP: slot state in the UKI names (shared with systemd-boot),
// what a slot boots read from its UKI's sections, and the refusal of a UKI that would boot
// something else than the slot's entry. Real UKIs, signing and Secure Boot are in
// tests/unit/secure_boot and the VM scenario tests/vm/uki_vm_test.sh.
#include <gtest/gtest.h>

#include "backends/systemd-boot/bls_layout.h"
#include "backends/uki/uki_layout.h"
#include "boot/backends.h"
#include "common/atomic_file.h"
#include "test_pe.h"
#include "test_util.h"
#include "unit/boot/fake_esp.h"
#include "unit/boot/sdboot_emulation.h"

namespace basalt::boot {
namespace {

using Files = std::map<std::string, std::string>;
using basalt::testing::MakeUkiLikePe;

SlotEntry Entry(std::string version, std::string partuuid, std::string usrhash = "ab12") {
  return SlotEntry{.version = std::move(version),
                   .usr_partuuid = std::move(partuuid),
                   .usrhash = std::move(usrhash),
                   .extra_cmdline = "console=ttyS0"};
}

std::string UkiFor(const SlotEntry& e) {
  return MakeUkiLikePe(SlotKernelCmdline(e), e.version);
}

std::optional<Slot> Pick(Files& files, bool count) {
  return SdBootPick(files, count, kUkiDir, kUkiSuffix);
}

struct Rig {
  basalt::testing::TempDir dir;
  std::shared_ptr<Files> files = std::make_shared<Files>();
  std::unique_ptr<BootControl> bc;

  Rig() {
    auto text = UkiEspFiles(Entry("1.0", "AAAA"));
    EXPECT_TRUE(text);
    for (const EspTextFile& f : *text) {
      (*files)[f.path] = f.content;
    }
    (*files)[kFreshUkiPathA] = UkiFor(Entry("1.0", "AAAA"));
    bc = FindBootBackend("uki")->Open("", std::make_unique<FakeEsp>(files), std::nullopt);
  }
  std::string Local(const std::string& bytes) {
    const std::string path = dir.path() + "/uki.efi";
    EXPECT_TRUE(WriteFileAtomic(path, bytes, 0644));
    return path;
  }
  Status Install(Slot slot, const SlotEntry& entry, const std::string& uki_bytes) {
    return bc->InstallSlot(slot, entry, {.uki = Local(uki_bytes)});
  }
};

TEST(UkiBackend, FreshImageBootsAGoodAndWantsUkis) {
  Rig r;
  EXPECT_EQ(r.bc->boot_files_kind(), BootFilesKind::kUki);
  auto st = r.bc->GetStatus();
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->backend, "uki");
  EXPECT_EQ(st->next, Slot::kA);
  EXPECT_EQ(st->slots[0].health, SlotHealth::kGood);
  EXPECT_EQ(st->slots[0].version, "1.0");
  EXPECT_EQ(st->slots[0].usrhash, "ab12");
  EXPECT_EQ(st->slots[1].health, SlotHealth::kBad);
  EXPECT_EQ(r.files->count("/loader/loader.conf"), 1u);
  EXPECT_NE((*r.files)["/loader/loader.conf"].find("editor no"), std::string::npos);
}

TEST(UkiBackend, UpdateFallbackAndBless) {
  Rig r;
  const SlotEntry b = Entry("2.0", "BBBB", "cd34");
  ASSERT_TRUE(r.bc->MarkBad(Slot::kB));
  ASSERT_TRUE(r.Install(Slot::kB, b, UkiFor(b)));
  EXPECT_EQ((*r.files)["/EFI/Linux/basalt-0-B+0-0.efi"], UkiFor(b));
  EXPECT_EQ(Pick(*r.files, false), Slot::kA);  // installed, not yet next
  ASSERT_TRUE(r.bc->SetNext(Slot::kB, 2));
  EXPECT_EQ(Pick(*r.files, true), Slot::kB);
  EXPECT_EQ(Pick(*r.files, true), Slot::kB);
  EXPECT_EQ(Pick(*r.files, true), Slot::kA);  // tries ran out: back to A
  auto st = r.bc->GetStatus();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->slots[1].health, SlotHealth::kBad);
  EXPECT_EQ(st->slots[1].version, "2.0");
  EXPECT_EQ(st->slots[1].usrhash, "cd34");

  ASSERT_TRUE(r.bc->SetNext(Slot::kB, 1));
  EXPECT_EQ(Pick(*r.files, true), Slot::kB);
  ASSERT_TRUE(r.bc->MarkGood(Slot::kB));
  EXPECT_EQ(Pick(*r.files, true), Slot::kB);
  EXPECT_EQ(Pick(*r.files, true), Slot::kB);
  EXPECT_EQ(r.bc->GetStatus()->slots[1].health, SlotHealth::kGood);
}

TEST(UkiBackend, RefusesAUkiThatBootsSomethingElse) {
  Rig r;
  const SlotEntry b = Entry("2.0", "BBBB", "cd34");
  const Files before = *r.files;
  struct Case {
    const char* what;
    std::string uki;
    const char* message;
  } cases[] = {
      {"another root hash", UkiFor(Entry("2.0", "BBBB", "ef56")), "names root hash ef56"},
      {"the other slot", UkiFor(Entry("2.0", "AAAA", "cd34")), "names USR partition AAAA"},
      {"another version", UkiFor(Entry("2.1", "BBBB", "cd34")), "names version 2.1"},
      {"not a PE", std::string(4096, 'x'), "MZ"},
      {"no .osrel", basalt::testing::MakePe({{".cmdline", SlotKernelCmdline(b)}}), "no .osrel"},
      {"two lines", MakeUkiLikePe(SlotKernelCmdline(b) + "\ninit=/bin/sh", "2.0"),
       "more than one line"},
      {"no IMAGE_VERSION",
       basalt::testing::MakePe({{".osrel", "NAME=x\n"}, {".cmdline", SlotKernelCmdline(b)}}),
       "no IMAGE_VERSION"},
      {"no usrhash", MakeUkiLikePe("basalt.usr=PARTUUID=BBBB console=ttyS0", "2.0"),
       "no basalt.usrhash"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto s = r.Install(Slot::kB, b, c.uki);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message().find(c.message), std::string::npos) << s.error().message();
    EXPECT_EQ(*r.files, before) << "the ESP changed";
  }
  auto none = r.bc->InstallSlot(Slot::kB, b, {.kernel = "k", .initrd = "i"});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("boots a UKI, and none was given"), std::string::npos);
  // PARTUUIDs compare without regard to case (blkid prints lower case, images upper case).
  EXPECT_TRUE(r.Install(Slot::kB, b, UkiFor(Entry("2.0", "bbbb", "cd34"))));
}

TEST(UkiBackend, AUkiReplacedOnTheEspIsReadAsItSays) {
  // Status reads the UKI itself: a file without sections is an error naming it, not a guess.
  Rig r;
  (*r.files)[kFreshUkiPathA] = "garbage";
  auto st = r.bc->GetStatus();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find(kFreshUkiPathA), std::string::npos);
}

}  // namespace
}  // namespace basalt::boot
