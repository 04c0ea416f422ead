// The grub and systemd-boot backends on an in-memory ESP, with emulations of what each
// bootloader does at boot, so the whole A/B cycle runs here; the real tools are in
// tests/integration/boot_*.
#include "boot/backends.h"

#include <gtest/gtest.h>
#include <string.h>

#include <algorithm>

#include "backends/grub/grub_layout.h"
#include "backends/systemd-boot/bls_layout.h"
#include "unit/boot/fake_esp.h"
#include "unit/boot/sdboot_emulation.h"

namespace basalt::boot {
namespace {

using Files = std::map<std::string, std::string>;

SlotEntry Entry(std::string version, std::string partuuid) {
  return SlotEntry{.version = std::move(version),
                   .usr_partuuid = std::move(partuuid),
                   .usrhash = "ab12",
                   .extra_cmdline = "console=ttyS0"};
}

// What GRUB does with the generated grub.cfg, in terms of slot_policy (the script mirrors it).
std::optional<Slot> GrubBoot(Files& files) {
  GrubEnv env = *ParseGrubEnv(files[kGrubEnvPath]);
  SlotTable t = *LoadTableFromGrubEnv(env);
  std::optional<Slot> s = ConsumeBootAttempt(t);
  StoreTableInGrubEnv(t, env);
  files[kGrubEnvPath] = *SerializeGrubEnv(env);
  return s;
}

struct Rig {
  std::shared_ptr<Files> files = std::make_shared<Files>();
  std::unique_ptr<BootControl> bc;
  FakeEsp* esp = nullptr;
};

Rig MakeGrub() {
  Rig s;
  auto layout = GrubEspFiles(Entry("1.0", "AAAA"));
  for (const EspTextFile& f : *layout)
    (*s.files)[f.path] = f.content;
  auto esp = std::make_unique<FakeEsp>(s.files);
  s.esp = esp.get();
  s.bc = FindBootBackend("grub")->Open("", std::move(esp), std::nullopt);
  return s;
}

Rig MakeSdBoot() {
  Rig s;
  auto layout = SdBootEspFiles(Entry("1.0", "AAAA"));
  for (const EspTextFile& f : *layout) {
    (*s.files)[f.path] = f.content;
  }
  auto esp = std::make_unique<FakeEsp>(s.files);
  s.esp = esp.get();
  s.bc = FindBootBackend("systemd-boot")->Open("", std::move(esp), std::nullopt);
  return s;
}

TEST(GrubBackend, FreshImageBootsAGood) {
  Rig s = MakeGrub();
  auto st = s.bc->GetStatus();
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->backend, "grub");
  EXPECT_EQ(st->next, Slot::kA);
  EXPECT_EQ(st->slots[0].health, SlotHealth::kGood);
  EXPECT_EQ(st->slots[0].version, "1.0");
  EXPECT_EQ(st->slots[1].health, SlotHealth::kBad);
  EXPECT_EQ(st->slots[1].version, "");
}

TEST(GrubBackend, SetNextNeedsAnEntry) {
  Rig s = MakeGrub();
  auto r = s.bc->SetNext(Slot::kB, 2);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no boot entry"), std::string::npos);
}

TEST(GrubBackend, FallbackAfterTriesRunOut) {
  Rig s = MakeGrub();
  ASSERT_TRUE(s.bc->InstallSlot(Slot::kB, Entry("2.0", "BBBB"), {.kernel = "k", .initrd = "i"}));
  EXPECT_EQ((*s.files)["/basalt/B/vmlinuz"], "contents of k");
  ASSERT_TRUE(s.bc->SetNext(Slot::kB, 2));
  EXPECT_EQ(GrubBoot(*s.files), Slot::kB);
  EXPECT_EQ(GrubBoot(*s.files), Slot::kB);
  EXPECT_EQ(GrubBoot(*s.files), Slot::kA);
  auto st = s.bc->GetStatus();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->next, Slot::kA);
  EXPECT_EQ(st->slots[1].health, SlotHealth::kBad);
  EXPECT_EQ(st->slots[1].attributes.tries, 0);
  EXPECT_EQ(st->slots[1].version, "2.0");
}

TEST(GrubBackend, GoodFlipAndRollback) {
  Rig s = MakeGrub();
  ASSERT_TRUE(s.bc->InstallSlot(Slot::kB, Entry("2.0", "BBBB"), {.kernel = "k", .initrd = "i"}));
  ASSERT_TRUE(s.bc->SetNext(Slot::kB, 3));
  EXPECT_EQ(GrubBoot(*s.files), Slot::kB);
  ASSERT_TRUE(s.bc->MarkGood(Slot::kB));
  EXPECT_EQ(GrubBoot(*s.files), Slot::kB);
  EXPECT_EQ(GrubBoot(*s.files), Slot::kB);
  ASSERT_TRUE(s.bc->Rollback());
  EXPECT_EQ(GrubBoot(*s.files), Slot::kA);
}

TEST(GrubBackend, CrashDuringReplaceLeavesOldOrNewEnv) {
  for (int crash_after = 0; crash_after < 8; crash_after++) {
    Rig s = MakeGrub();
    ASSERT_TRUE(s.bc->InstallSlot(Slot::kB, Entry("2.0", "BBBB"), {.kernel = "k", .initrd = "i"}));
    s.esp->mutations_left = crash_after;
    // The injected crash is the only way this may fail.
    if (Status crashed = s.bc->SetNext(Slot::kB, 2); !crashed) {
      EXPECT_EQ(crashed.error().message(), "simulated crash");
    }
    s.esp->mutations_left = 1 << 30;
    // Exactly what grub.cfg does: grubenv, or grubenv.old if grubenv is missing.
    auto env = ReadRecovering(*s.esp, kGrubEnvPath);
    ASSERT_TRUE(env && *env) << "no grubenv at all after crash point " << crash_after;
    auto parsed = ParseGrubEnv(**env);
    ASSERT_TRUE(parsed) << parsed.error().message();
    SlotTable t = *LoadTableFromGrubEnv(*parsed);
    std::optional<Slot> next = SelectNext(t);
    ASSERT_TRUE(next == Slot::kA || next == Slot::kB);
    // And the verb completes when rerun.
    ASSERT_TRUE(s.bc->SetNext(Slot::kB, 2));
    EXPECT_EQ(s.bc->GetStatus()->next, Slot::kB);
  }
}

TEST(SdBootBackend, FallbackAfterTriesRunOut) {
  Rig s = MakeSdBoot();
  ASSERT_TRUE(s.files->count("/loader/entries/basalt-1-A.conf"));
  ASSERT_TRUE(s.bc->InstallSlot(Slot::kB, Entry("2.0", "BBBB"), {.kernel = "k", .initrd = "i"}));
  EXPECT_TRUE(s.files->count("/loader/entries/basalt-0-B+0-0.conf"));
  EXPECT_EQ(SdBootPick(*s.files, false), Slot::kA);
  ASSERT_TRUE(s.bc->SetNext(Slot::kB, 2));
  EXPECT_TRUE(s.files->count("/loader/entries/basalt-2-B+2-0.conf"));
  EXPECT_TRUE(s.files->count("/loader/entries/basalt-1-A.conf"));
  EXPECT_EQ(SdBootPick(*s.files, true), Slot::kB);
  EXPECT_EQ(SdBootPick(*s.files, true), Slot::kB);
  EXPECT_TRUE(s.files->count("/loader/entries/basalt-2-B+0-2.conf"));
  EXPECT_EQ(SdBootPick(*s.files, true), Slot::kA);
  auto st = s.bc->GetStatus();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->next, Slot::kA);
  EXPECT_EQ(st->slots[1].health, SlotHealth::kBad);
  EXPECT_EQ(st->slots[1].version, "2.0");
  EXPECT_EQ(st->slots[1].usrhash, "ab12");
}

TEST(SdBootBackend, MarkGoodIsWhatSystemdBlessBootDoes) {
  Rig s = MakeSdBoot();
  ASSERT_TRUE(s.bc->InstallSlot(Slot::kB, Entry("2.0", "BBBB"), {.kernel = "k", .initrd = "i"}));
  ASSERT_TRUE(s.bc->SetNext(Slot::kB, 3));
  EXPECT_EQ(SdBootPick(*s.files, true), Slot::kB);
  EXPECT_TRUE(s.files->count("/loader/entries/basalt-2-B+2-1.conf"));
  ASSERT_TRUE(s.bc->MarkGood(Slot::kB));
  // systemd-bless-boot renames basalt-2-B+2-1.conf to basalt-2-B.conf: the same name.
  EXPECT_TRUE(s.files->count("/loader/entries/basalt-2-B.conf"));
  for (int i = 0; i < 3; i++)
    EXPECT_EQ(SdBootPick(*s.files, true), Slot::kB);

  // A counter dropped by systemd-bless-boot itself reads as good too.
  Rig t = MakeSdBoot();
  ASSERT_TRUE(t.bc->InstallSlot(Slot::kB, Entry("2.0", "BBBB"), {.kernel = "k", .initrd = "i"}));
  ASSERT_TRUE(t.bc->SetNext(Slot::kB, 3));
  auto& f = *t.files;
  f["/loader/entries/basalt-2-B.conf"] = f["/loader/entries/basalt-2-B+3-0.conf"];
  f.erase("/loader/entries/basalt-2-B+3-0.conf");
  EXPECT_EQ(t.bc->GetStatus()->slots[1].health, SlotHealth::kGood);
}

TEST(SdBootBackend, EveryRenameStepPicksOldOrNewSlot) {
  Rig s = MakeSdBoot();
  ASSERT_TRUE(s.bc->InstallSlot(Slot::kB, Entry("2.0", "BBBB"), {.kernel = "k", .initrd = "i"}));
  ASSERT_TRUE(s.bc->SetNext(Slot::kB, 3));
  ASSERT_TRUE(s.bc->MarkGood(Slot::kB));
  std::vector<std::optional<Slot>> seen;
  s.esp->after_rename = [&] { seen.push_back(SdBootPick(*s.files, false)); };
  ASSERT_TRUE(s.bc->Rollback());  // B -> A: every intermediate state boots B or A
  ASSERT_FALSE(seen.empty());
  for (auto& pick : seen)
    EXPECT_EQ(pick, Slot::kA);  // the first rename is the commit
  seen.clear();
  ASSERT_TRUE(s.bc->SetNext(Slot::kB, 2));
  for (auto& pick : seen)
    EXPECT_EQ(pick, Slot::kB);
  // The agreement with SelectNext holds in the final state.
  EXPECT_EQ(s.bc->GetStatus()->next, SdBootPick(*s.files, false));
}

TEST(BlsName, ParseAndFormat) {
  auto n = ParseBlsName("basalt-2-B+3-1.conf");
  ASSERT_TRUE(n && *n);
  EXPECT_EQ((*n)->priority, 2);
  EXPECT_EQ((*n)->slot, Slot::kB);
  EXPECT_EQ((*n)->tries_left, 3);
  EXPECT_EQ((*n)->tries_done, 1);
  EXPECT_EQ(FormatBlsName(**n), "basalt-2-B+3-1.conf");
  auto plain = ParseBlsName("basalt-1-A+2.conf");
  ASSERT_TRUE(plain && *plain);
  EXPECT_EQ((*plain)->tries_done, 0);
  EXPECT_FALSE(*ParseBlsName("debian.conf"));
  EXPECT_FALSE(ParseBlsName("basalt-x-A.conf"));
  EXPECT_FALSE(ParseBlsName("basalt-1-C.conf"));
  EXPECT_FALSE(ParseBlsName("basalt-1-A+x-1.conf"));
}

TEST(SlotEntry, GrubConfigRoundTripAndRejects) {
  SlotEntry e = Entry("2.0", "BBBB");
  auto text = RenderGrubSlotConfig(Slot::kB, e);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("set basalt_cmdline=\"basalt.usr=PARTUUID=BBBB basalt.usrhash=ab12 "
                       "console=ttyS0\""),
            std::string::npos);
  EXPECT_EQ(*ParseGrubSlotConfig(*text), e);
  e.extra_cmdline = "a\"b";
  EXPECT_FALSE(RenderGrubSlotConfig(Slot::kB, e));
  EXPECT_FALSE(ParseGrubSlotConfig("set basalt_version=1.0\n"));
  EXPECT_FALSE(ParseGrubSlotConfig("set basalt_usrhash=\"zz\"\n"));
}

}  // namespace
}  // namespace basalt::boot
