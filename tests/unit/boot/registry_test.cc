// The backend registry (boot/backends.h) walked row by row: whatever a new row brings, these
// hold for it without a new test. Each row's fresh ESP is detected as that row and reads as
// slot A good; every place that offers or checks backend names offers exactly the rows.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "boot/backends.h"
#include "boot/boot_cli.h"
#include "boot/boot_target.h"
#include "boot/fresh_esp.h"
#include "common/fd.h"
#include "disk/gpt_disk.h"
#include "image/definition.h"
#include "image/image_cli.h"
#include "test_pe.h"
#include "test_util.h"
#include "unit/boot/fake_esp.h"

namespace basalt::boot {
namespace {

using Files = std::map<std::string, std::string>;

SlotEntry SampleSlotA() {
  return SlotEntry{.version = "1.0",
                   .usr_partuuid = "7130C94A-213A-4E5A-8E26-6CCE9662F132",
                   .usrhash = "ab12cd34",
                   .extra_cmdline = "console=ttyS0"};
}

// A sparse disk image with the reference layout's ESP and USR partitions, USR-A's bits as a
// fresh image has them, so backends that keep state in the GPT read a fresh image too.
std::string MakeFreshDisk(const basalt::testing::TempDir& dir) {
  constexpr uint64_t kMiB = 1 << 20;
  std::string path = dir / "disk.img";
  {
    auto fd = OpenFile(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (!fd || ::ftruncate(fd->get(), 8 * kMiB) != 0) throw std::runtime_error("disk.img");
  }
  std::vector<disk::GptPartition> parts = {
      {1, "EFI-SYSTEM", std::string(disk::kEspTypeGuid), "11111111-1111-1111-1111-111111111111",
       1 * kMiB, 2 * kMiB, 0},
      {3, "USR-A", std::string(disk::kUsrTypeGuid), "7130C94A-213A-4E5A-8E26-6CCE9662F132",
       3 * kMiB, 1 * kMiB, FreshUsrAAttributes()},
      {4, "USR-B", std::string(disk::kUsrTypeGuid), "22222222-2222-2222-2222-222222222222",
       4 * kMiB, 1 * kMiB, 0},
  };
  Status st = disk::CreateGpt(path, "33333333-3333-3333-3333-333333333333", parts);
  if (!st) throw std::runtime_error(st.error().message());
  return path;
}

TEST(BackendRegistry, RowsAreCompleteAndUniquelyNamed) {
  ASSERT_FALSE(BootBackends().empty());
  std::set<std::string_view> names;
  int fallbacks = 0;
  for (const BootBackend& b : BootBackends()) {
    EXPECT_FALSE(b.name.empty());
    EXPECT_TRUE(names.insert(b.name).second) << "two rows named " << b.name;
    EXPECT_NE(b.open, nullptr) << b.name;
    EXPECT_NE(b.esp_text_files, nullptr) << b.name;
    EXPECT_NE(b.boot_loader, nullptr) << b.name;
    EXPECT_EQ(FindBootBackend(b.name), &b);
    if (b.detect == nullptr) fallbacks++;
  }
  EXPECT_EQ(fallbacks, 1) << "detection needs exactly one fallback row";
  // Without an ESP, OpenBootControl takes the fallback: it must open without one.
  EXPECT_FALSE(FallbackBootBackend().needs_esp);
  EXPECT_EQ(&DefaultBootBackend(), &BootBackends()[0]);
  EXPECT_EQ(FindBootBackend("lilo"), nullptr);
  std::vector<std::string> expected(names.size());
  std::transform(BootBackends().begin(), BootBackends().end(), expected.begin(),
                 [](const BootBackend& b) { return std::string(b.name); });
  EXPECT_EQ(BootBackendNames(), expected);
}

TEST(BackendRegistry, EveryFreshEspIsDetectedAsItsOwnBackendAndBootsA) {
  basalt::testing::TempDir dir;
  const std::string disk = MakeFreshDisk(dir);
  for (const BootBackend& b : BootBackends()) {
    SCOPED_TRACE(std::string(b.name));
    auto fresh = b.esp_text_files(SampleSlotA());
    ASSERT_TRUE(fresh) << fresh.error().message();
    auto files = std::make_shared<Files>();
    for (const EspTextFile& f : *fresh) {
      EXPECT_TRUE(f.path.starts_with("/")) << f.path;
      EXPECT_TRUE(files->emplace(f.path, f.content).second) << "twice: " << f.path;
    }
    if (b.fresh_uki_path != nullptr) {  // the image builder's part: slot A's UKI
      (*files)[b.fresh_uki_path] =
          basalt::testing::MakeUkiLikePe(SlotKernelCmdline(SampleSlotA()), "1.0");
    }
    FakeEsp esp(files);
    auto detected = DetectBootBackend(esp);
    ASSERT_TRUE(detected) << detected.error().message();
    EXPECT_EQ((*detected)->name, b.name);

    std::unique_ptr<BootControl> bc = b.Open(disk, std::make_unique<FakeEsp>(files), std::nullopt);
    ASSERT_NE(bc, nullptr);
    EXPECT_EQ(bc->backend(), b.name);
    auto st = bc->GetStatus();
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_EQ(st->backend, b.name);
    EXPECT_EQ(st->next, Slot::kA);
    EXPECT_EQ(st->slots[SlotIndex(Slot::kA)].health, SlotHealth::kGood);
    EXPECT_EQ(st->slots[SlotIndex(Slot::kA)].version, "1.0");
    EXPECT_EQ(st->slots[SlotIndex(Slot::kA)].usrhash, "ab12cd34");
    EXPECT_EQ(st->slots[SlotIndex(Slot::kB)].health, SlotHealth::kBad);
  }
}

TEST(BackendRegistry, DetectionOrderAndFallback) {
  auto files = std::make_shared<Files>();
  FakeEsp esp(files);
  auto empty = DetectBootBackend(esp);
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, &FallbackBootBackend());
  // An ESP with both a grubenv and basalt BLS entries (one moved from grub to systemd-boot)
  // is systemd-boot's: the entries are what systemd-boot boots from.
  for (const BootBackend* b : {FindBootBackend("grub"), FindBootBackend("systemd-boot")}) {
    auto fresh = b->esp_text_files(SampleSlotA());
    ASSERT_TRUE(fresh);
    for (const EspTextFile& f : *fresh)
      (*files)[f.path] = f.content;
  }
  auto both = DetectBootBackend(esp);
  ASSERT_TRUE(both);
  EXPECT_EQ((*both)->name, "systemd-boot");
}

// The lists in messages, as they read before the registry existed. The one line a new row
// changes on purpose.
TEST(BackendRegistry, MessagesListTheNamesAsBefore) {
  EXPECT_EQ(JoinBootBackendNames(" or "), "grub, systemd-boot, gptprio or uki");
  EXPECT_EQ(JoinBootBackendNames(", "), "grub, systemd-boot, gptprio, uki");
}

TEST(BackendRegistry, UnknownNamesAreRefusedWithTheRegistryNames) {
  FreshEspOptions o;
  EXPECT_EQ(o.backend, DefaultBootBackend().name);
  o.backend = "lilo";
  auto fresh = FreshEspFiles(o);
  ASSERT_FALSE(fresh);
  EXPECT_EQ(fresh.error().message(),
            "boot backend 'lilo' is not one of " + JoinBootBackendNames(", "));

  basalt::testing::TempDir dir;
  BootTarget target{.disk = MakeFreshDisk(dir), .backend = "lilo"};
  auto bc = OpenBootControl(target);
  ASSERT_FALSE(bc);
  EXPECT_EQ(bc.error().message(),
            "unknown boot backend 'lilo' (expected " + JoinBootBackendNames(" or ") + ")");

  auto def = image::ParseDefinition("[boot]\nbackend = \"lilo\"\n", "d.toml");
  ASSERT_FALSE(def);
  EXPECT_EQ(def.error().message(),
            "d.toml: boot.backend 'lilo' must be " + JoinBootBackendNames(" or "));
  EXPECT_EQ(image::ImageDefinition{}.boot_backend, DefaultBootBackend().name);
}

// True if `basalt <args>` parses (CLI11 checks choices at parse time; nothing runs).
bool Parses(const std::string& args) {
  CLI::App app;
  CommandRunner runner;
  AddBootCommands(app, runner);
  AddImageCommands(app, runner);
  try {
    app.parse(args, false);
  } catch (const CLI::ParseError&) {
    return false;
  }
  return runner.has_action();
}

TEST(BackendRegistry, CliChoicesAreTheRegistryNames) {
  std::vector<std::string> offered = BootBackendNames();
  offered.push_back("lilo");
  for (const std::string& name : offered) {
    SCOPED_TRACE(name);
    const bool known = FindBootBackend(name) != nullptr;
    EXPECT_EQ(Parses("boot --backend " + name + " status"), known);
    EXPECT_EQ(Parses("boot mark-bad B --backend " + name), known);
    EXPECT_EQ(Parses("boot esp-layout --backend " + name +
                     " --version 1 --usr-partuuid X --usrhash ab --output-dir /nonexistent"),
              known);
    EXPECT_EQ(Parses("image build --rootfs /r --output /o --boot-backend " + name), known);
    auto def = image::ParseDefinition(fmt::format("[boot]\nbackend = \"{}\"\n", name), "d.toml");
    EXPECT_EQ(def.has_value(), known);
  }
}

}  // namespace
}  // namespace basalt::boot
