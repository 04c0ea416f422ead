// Boot control on a real GPT disk image file, checked against the peers: sgdisk -A for the
// gptprio bits (both GPT copies), grub-editenv for grubenv, mtools' view of the ESP for BLS
// entries, grub-script-check for grub.cfg, and sfdisk/sgdisk -v for the grown ROOT.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "backends/grub/grub_layout.h"
#include "backends/systemd-boot/bls_layout.h"
#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/subprocess.h"
#include "disk/gpt_disk.h"
#include "esp_files.h"

namespace basalt::boot {
namespace {

namespace fs = std::filesystem;

bool HaveTool(const char* tool) {
  auto r = RunCommand({"sh", "-c", std::string("command -v ") + tool});
  return r && r->exit_code == 0;
}

std::string Sh(const std::vector<std::string>& argv) {
  auto r = RunCommand(Command(argv));
  EXPECT_TRUE(r) << argv[0];
  if (!r) return "";
  EXPECT_EQ(r->exit_code, 0) << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << ": "
                             << r->err;
  return r->out;
}

std::string Basalt() {
  return std::string(std::getenv("BASALT_BIN_DIR")) + "/basalt";
}

nlohmann::json StatusJson(const std::string& disk) {
  return nlohmann::json::parse(Sh({Basalt(), "boot", "--disk", disk, "status", "--json"}));
}

constexpr uint64_t kMiB = 1024 * 1024;

class BootDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"sgdisk", "sfdisk", "mkfs.fat", "mcopy", "grub-editenv"}) {
      if (!HaveTool(tool)) GTEST_SKIP() << tool << " is not installed";
    }
    ::setenv("MTOOLS_SKIP_CHECK", "1", 1);
    char tmpl[] = "/tmp/basalt-boot-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    disk_ = dir_ + "/disk.img";
    // Flatcar's numbering and labels: 1 ESP, 3 USR-A, 4 USR-B, 9 ROOT (last, to grow).
    Sh({"truncate", "-s", "64M", disk_});
    Sh({"sgdisk", "-n1:2048:+32M", "-t1:C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "-c1:EFI-SYSTEM",
        "-n3:0:+8M", "-t3:5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "-c3:USR-A",
        "-u3:11111111-2222-3333-4444-555555555555", "-n4:0:+8M",
        "-t4:5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "-c4:USR-B",
        "-u4:66666666-7777-8888-9999-AAAAAAAAAAAA", "-n9:0:+4M",
        "-t9:3884DD41-8582-4404-B9A8-E9B84F2DF50E", "-c9:ROOT", disk_});
    Sh({"mkfs.fat", "-n", "EFI-SYSTEM", "--offset", "2048", disk_, "32768"});
    Sh({"sh", "-c", "echo kernel > " + dir_ + "/vmlinuz; echo initrd > " + dir_ + "/initrd"});
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  void Populate(const std::vector<EspTextFile>& files) {
    auto esp = OpenEspMtools(disk_, kMiB, 32 * kMiB);
    for (const EspTextFile& f : files)
      ASSERT_TRUE(ReplaceFile(*esp, f.path, f.content));
    ASSERT_TRUE(esp->MakeDirs("/basalt/A"));
    ASSERT_TRUE(esp->WriteFromFile(SlotKernelPath(Slot::kA), dir_ + "/vmlinuz"));
  }

  void InstallB() {
    Sh({Basalt(), "boot", "--disk", disk_, "install-slot", "B", "--kernel", dir_ + "/vmlinuz",
        "--initrd", dir_ + "/initrd", "--version", "2.0", "--usr-partuuid",
        "66666666-7777-8888-9999-AAAAAAAAAAAA", "--usrhash", "beef", "--cmdline", "console=ttyS0"});
  }

  std::string EspFile(const std::string& path) {
    std::string out = dir_ + "/extracted";
    fs::remove(out);
    Sh({"mcopy", "-n", "-i", disk_ + "@@1048576", "::" + path, out});
    return out;
  }

  std::string dir_;
  std::string disk_;
};

SlotEntry SlotA() {
  return SlotEntry{.version = "1.0",
                   .usr_partuuid = "11111111-2222-3333-4444-555555555555",
                   .usrhash = "cafe",
                   .extra_cmdline = "console=ttyS0"};
}

// Reads partition `number`'s attribute field straight from the backup GPT at the disk's end.
uint64_t BackupAttributes(const std::string& disk, size_t number) {
  auto fd = OpenFile(disk, O_RDONLY);
  EXPECT_TRUE(fd);
  auto size = FileOrDeviceSize(fd->get(), disk);
  uint8_t header[512];
  EXPECT_TRUE(PreadFull(fd->get(), header, *size - 512, "backup header"));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(header), 8), "EFI PART");
  uint64_t entries_lba = 0;
  std::memcpy(&entries_lba, header + 72, 8);
  uint32_t entry_size = 0;
  std::memcpy(&entry_size, header + 84, 4);
  uint64_t attrs = 0;
  uint8_t raw[8];
  EXPECT_TRUE(PreadFull(fd->get(), raw, entries_lba * 512 + (number - 1) * entry_size + 48,
                        "backup entry"));
  std::memcpy(&attrs, raw, 8);
  return attrs;
}

TEST_F(BootDiskTest, GptPrioAgreesWithSgdiskBothWays) {
  Sh({Basalt(), "boot", "--disk", disk_, "--backend", "gptprio", "mark-good", "A"});
  Sh({Basalt(), "boot", "--disk", disk_, "--backend", "gptprio", "set-next", "B", "--tries", "2"});
  // Priority 2 is bit 49, tries 2 is bit 53; A: priority 1 (bit 48) and successful (bit 56).
  EXPECT_EQ(Sh({"sgdisk", "-A", "4:show", disk_}),
            "4:49:1 (Undefined bit #49)\n4:53:1 (Undefined bit #53)\n");
  EXPECT_EQ(Sh({"sgdisk", "-A", "3:show", disk_}),
            "3:48:1 (Undefined bit #48)\n3:56:1 (Undefined bit #56)\n");
  // libfdisk wrote both copies.
  EXPECT_EQ(BackupAttributes(disk_, 4), (uint64_t{2} << 48) | (uint64_t{2} << 52));
  EXPECT_EQ(BackupAttributes(disk_, 3), (uint64_t{1} << 48) | (uint64_t{1} << 56));
  EXPECT_NE(Sh({"sgdisk", "-v", disk_}).find("No problems found"), std::string::npos);

  // sgdisk writes, we read: give A priority 3 (bits 48+49), B successful.
  Sh({"sgdisk", "-A", "3:set:49", "-A", "4:set:56", disk_});
  nlohmann::json s = StatusJson(disk_);
  EXPECT_EQ(s["backend"], "gptprio");
  EXPECT_FALSE(s.contains("current"));
  EXPECT_EQ(s["slots"]["A"]["priority"], 3);
  EXPECT_EQ(s["slots"]["B"]["priority"], 2);
  EXPECT_EQ(s["slots"]["B"]["tries"], 2);
  EXPECT_EQ(s["slots"]["B"]["good"], true);
  EXPECT_EQ(s["next"], "A");
}

TEST_F(BootDiskTest, GrubenvAgreesWithGrubEditenv) {
  Populate(*GrubEspFiles(SlotA()));
  InstallB();
  Sh({Basalt(), "boot", "--disk", disk_, "set-next", "B", "--tries", "2"});
  std::string env = EspFile(kGrubEnvPath);
  EXPECT_EQ(fs::file_size(env), 1024u);
  std::string listed = Sh({"grub-editenv", env, "list"});
  EXPECT_EQ(listed,
            "basalt_A_ok=1\nbasalt_A_priority=1\nbasalt_A_tries=0\n"
            "basalt_B_ok=0\nbasalt_B_priority=2\nbasalt_B_tries=2\n");
  nlohmann::json s = StatusJson(disk_);
  EXPECT_EQ(s["backend"], "grub");
  EXPECT_EQ(s["next"], "B");
  EXPECT_EQ(s["slots"]["B"]["version"], "2.0");
  EXPECT_EQ(s["slots"]["B"]["usr_root_hash"], "beef");
  EXPECT_EQ(s["slots"]["A"]["usr_root_hash"], "cafe");

  // GRUB's side: what grub.cfg's countdown does via save_env, done here by grub-editenv.
  Sh({"grub-editenv", env, "set", "basalt_B_tries=0", "extra=kept"});
  Sh({"mcopy", "-o", "-i", disk_ + "@@1048576", env, std::string("::") + kGrubEnvPath});
  s = StatusJson(disk_);
  EXPECT_EQ(s["next"], "A");
  EXPECT_EQ(s["slots"]["B"]["bad"], true);
  Sh({Basalt(), "boot", "--disk", disk_, "mark-bad", "B"});
  listed = Sh({"grub-editenv", EspFile(kGrubEnvPath), "list"});
  EXPECT_NE(listed.find("extra=kept\n"), std::string::npos);
  EXPECT_NE(listed.find("basalt_B_priority=0\n"), std::string::npos);
}

TEST_F(BootDiskTest, MalformedGrubenvIsRejectedClearly) {
  Populate(*GrubEspFiles(SlotA()));
  Sh({"sh", "-c", "head -c 1024 /dev/zero > " + dir_ + "/zero"});
  Sh({"mcopy", "-o", "-i", disk_ + "@@1048576", dir_ + "/zero", "::/basalt/grubenv"});
  auto r = RunCommand({Basalt(), "boot", "--disk", disk_, "status"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_NE(r->err.find("/basalt/grubenv: grubenv does not start with the header"),
            std::string::npos)
      << r->err;
}

TEST_F(BootDiskTest, GeneratedGrubCfgPassesGrubScriptCheck) {
  if (!HaveTool("grub-script-check")) GTEST_SKIP() << "grub-script-check is not installed";
  std::string cfg = dir_ + "/grub.cfg";
  ASSERT_TRUE(WriteFileAtomic(cfg, RenderGrubCfg()));
  Sh({"grub-script-check", cfg});
  // And the checker does catch a broken script, so the check above means something.
  ASSERT_TRUE(WriteFileAtomic(cfg, RenderGrubCfg() + "if [ x ]; then\n"));
  auto r = RunCommand({"grub-script-check", cfg});
  ASSERT_TRUE(r);
  EXPECT_NE(r->exit_code, 0);
  // The gptprio backend's grub.cfg too.
  ASSERT_TRUE(WriteFileAtomic(cfg, RenderGptPrioGrubCfg()));
  Sh({"grub-script-check", cfg});
}

TEST_F(BootDiskTest, GrubMkimageBuildsOurEfiImage) {
  if (!fs::exists("/usr/lib/grub/x86_64-efi")) GTEST_SKIP() << "grub-efi-amd64-bin is absent";
  Sh(GrubMkimageArgv(dir_ + "/BOOTX64.EFI"));
  EXPECT_GT(fs::file_size(dir_ + "/BOOTX64.EFI"), 100000u);
}

TEST_F(BootDiskTest, SdBootEntriesOnDisk) {
  Populate(*SdBootEspFiles(SlotA()));
  InstallB();
  Sh({Basalt(), "boot", "--disk", disk_, "set-next", "B"});
  std::string entries = Sh({"mdir", "-b", "-i", disk_ + "@@1048576", "::/loader/entries/"});
  EXPECT_EQ(entries, "::/loader/entries/basalt-1-A.conf\n::/loader/entries/basalt-2-B+3-0.conf\n");
  nlohmann::json s = StatusJson(disk_);
  EXPECT_EQ(s["backend"], "systemd-boot");
  EXPECT_EQ(s["next"], "B");
  EXPECT_EQ(s["slots"]["B"]["tries"], 3);
  Sh({Basalt(), "boot", "--disk", disk_, "mark-good", "B"});
  entries = Sh({"mdir", "-b", "-i", disk_ + "@@1048576", "::/loader/entries/"});
  EXPECT_EQ(entries, "::/loader/entries/basalt-1-A.conf\n::/loader/entries/basalt-2-B.conf\n");
  std::string entry =
      Sh({"mcopy", "-n", "-i", disk_ + "@@1048576", "::/loader/entries/basalt-2-B.conf", "-"});
  EXPECT_NE(entry.find("options basalt.usr=PARTUUID=66666666-7777-8888-9999-AAAAAAAAAAAA "
                       "basalt.usrhash=beef console=ttyS0\n"),
            std::string::npos);
  Sh({"sh", "-c",
      "env MTOOLS_SKIP_CHECK=1 mcopy -n -i " + disk_ +
          "@@1048576 ::/loader/loader.conf - | grep -qx 'default basalt-\\*'"});
}

// What a kill inside mdel (or mcopy) can leave behind: the FAT says the file's clusters are free
// while its directory entry still points at them. Every later mtools read of that file fails
// ("Fat problem while decoding"), so without the repair the next finalize could never replace
// it: the update would stop there for good.
TEST_F(BootDiskTest, WriteAfterAnInterruptedMtoolsCallRepairsTheFat) {
  if (!HaveTool("fsck.fat")) GTEST_SKIP() << "fsck.fat (dosfstools) is not installed";
  Populate({{"/basalt/grub.cfg", "# the running slot's config\n"}});
  const std::string spec = disk_ + "@@1048576";
  const std::string big = dir_ + "/big";
  Sh({"sh", "-c", "head -c 300000 /dev/urandom > " + big});
  Sh({"mmd", "-i", spec, "::/basalt/B"});
  Sh({"mcopy", "-i", spec, big, "::/basalt/B/vmlinuz"});
  std::string chain = Sh({"mshowfat", "-i", spec, "::/basalt/B/vmlinuz"});
  size_t lt = chain.find('<');
  ASSERT_NE(lt, std::string::npos) << chain;
  const uint64_t first = std::stoull(chain.substr(lt + 1));
  {
    auto fd = OpenFile(disk_, O_RDWR);
    ASSERT_TRUE(fd);
    uint8_t boot[512];
    ASSERT_TRUE(PreadFull(fd->get(), boot, kMiB, "boot sector"));
    uint16_t bytes_per_sector, reserved, fat_sectors;
    std::memcpy(&bytes_per_sector, boot + 11, 2);
    std::memcpy(&reserved, boot + 14, 2);
    std::memcpy(&fat_sectors, boot + 22, 2);
    ASSERT_NE(fat_sectors, 0) << "expected FAT16 for a 32 MiB ESP";
    const uint8_t zero[2] = {0, 0};
    for (int copy = 0; copy < boot[16]; ++copy) {
      uint64_t entry =
          kMiB + (reserved + uint64_t{fat_sectors} * copy) * bytes_per_sector + first * 2;
      ASSERT_TRUE(PwriteFull(fd->get(), zero, entry, "FAT entry"));
    }
  }
  auto broken = RunCommand({"mcopy", "-n", "-i", spec, "::/basalt/B/vmlinuz", "-"});
  ASSERT_TRUE(broken);
  ASSERT_NE(broken->exit_code, 0) << "the damage did not take: the file still reads";
  EXPECT_NE(broken->err.find("Fat problem"), std::string::npos) << broken->err;
  const std::string cfg_bytes = *ReadFileToString(EspFile("/basalt/grub.cfg"));

  auto esp = OpenEspMtools(disk_, kMiB, 32 * kMiB);
  auto st = ReplaceFileFrom(*esp, "/basalt/B/vmlinuz", dir_ + "/vmlinuz");
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(*ReadFileToString(EspFile("/basalt/B/vmlinuz")), "kernel\n");
  EXPECT_EQ(*ReadFileToString(EspFile("/basalt/grub.cfg")), cfg_bytes);
  // Clean to an independent checker: the orphaned chain was reclaimed, nothing is cross-linked.
  const std::string esp_copy = dir_ + "/esp.img";
  Sh({"dd", "if=" + disk_, "of=" + esp_copy, "bs=1M", "skip=1", "count=32", "status=none"});
  auto check = RunCommand({"fsck.fat", "-n", esp_copy});
  ASSERT_TRUE(check);
  EXPECT_EQ(check->exit_code, 0) << check->out << check->err;
}

// An ESP that is not a FAT file system at all is refused before anything is written.
TEST_F(BootDiskTest, WriteToAnUnrepairableEspIsRefused) {
  if (!HaveTool("fsck.fat")) GTEST_SKIP() << "fsck.fat (dosfstools) is not installed";
  Sh({"dd", "if=/dev/zero", "of=" + disk_, "bs=1M", "seek=1", "count=1", "conv=notrunc",
      "status=none"});
  const std::string before = dir_ + "/before.img";
  Sh({"cp", disk_, before});
  auto esp = OpenEspMtools(disk_, kMiB, 32 * kMiB);
  auto st = esp->MakeDirs("/basalt/B");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("fsck.fat"), std::string::npos) << st.error().message();
  EXPECT_EQ(Sh({"cmp", disk_, before}), "");
}

TEST_F(BootDiskTest, GrowRootToEndOfDisk) {
  Sh({"truncate", "-s", "96M", disk_});
  {
    auto disk = disk::GptDisk::Open(disk_, true);
    ASSERT_TRUE(disk) << disk.error().message();
    auto gained = disk->GrowToEnd(9);
    ASSERT_TRUE(gained) << gained.error().message();
    EXPECT_GT(*gained, 31 * kMiB);
    ASSERT_TRUE(disk->Commit());
  }
  EXPECT_NE(Sh({"sgdisk", "-v", disk_}).find("No problems found"), std::string::npos);
  auto j = nlohmann::json::parse(Sh({"sfdisk", "--json", disk_}));
  uint64_t last_lba = j["partitiontable"]["lastlba"];
  for (auto& p : j["partitiontable"]["partitions"]) {
    if (p["name"] == "ROOT") {
      uint64_t end = p["start"].get<uint64_t>() + p["size"].get<uint64_t>() - 1;
      EXPECT_EQ(end, last_lba);
    }
  }
  auto again = disk::GptDisk::Open(disk_, true);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again->GrowToEnd(9), 0u);
  auto usr = again->GrowToEnd(3);
  ASSERT_FALSE(usr);
  EXPECT_NE(usr.error().message().find("not the last one"), std::string::npos);
}

}  // namespace
}  // namespace basalt::boot
