// `basalt image build` checked by the real peers: sfdisk, sgdisk, blkid, veritysetup, fsck.erofs,
// dump.erofs, fsck.vfat, e2fsck, grub-editenv, cpio, and the kernel's erofs when loop mounts work.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/hash.h"
#include "common/hex.h"
#include "integration/image_test_util.h"
#include "tree_copy.h"

namespace basalt::image::testing {
namespace {

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// One build shared by the peer checks (building costs a few seconds).
class ImageBuildTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    tree_ = dir_->path() + "/tree";
    MakeTestTree(tree_);
    out_ = dir_->path() + "/out";
    auto r = Sh(BasaltBin() + " image build --rootfs " + tree_ + " --output " + out_ + " " +
                SmallSizes() + " --version 1.2.3 --seed test-seed --source-date-epoch 1700000000");
    build_status_ = r.status;
    build_output_ = r.output;
  }
  static void TearDownTestSuite() { delete dir_; }

  void SetUp() override {
    ASSERT_EQ(build_status_, 0) << build_output_;
    record_ = ReadJson(out_ + "/image.json");
  }

  // Extracts partition `number` of disk.img into a file and returns its path.
  std::string Partition(int number) {
    for (const auto& p : record_["disk"]["partitions"]) {
      if (p["number"] == number) {
        std::string path = dir_->path() + "/part" + std::to_string(number) + ".img";
        auto r = Sh("dd if=" + out_ + "/disk.img of=" + path +
                    " bs=1M skip=" + std::to_string(p["offset"].get<uint64_t>() >> 20) +
                    " count=" + std::to_string(p["size"].get<uint64_t>() >> 20) + " status=none");
        EXPECT_EQ(r.status, 0) << r.output;
        return path;
      }
    }
    ADD_FAILURE() << "no partition " << number;
    return "";
  }

  static TempDir* dir_;
  static std::string tree_, out_, build_output_;
  static int build_status_;
  nlohmann::json record_;
};
TempDir* ImageBuildTest::dir_ = nullptr;
std::string ImageBuildTest::tree_, ImageBuildTest::out_, ImageBuildTest::build_output_;
int ImageBuildTest::build_status_ = -1;

TEST_F(ImageBuildTest, OutputHasExactlyTheFourFiles) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(out_))
    names.insert(e.path().filename());
  EXPECT_EQ(names, (std::set<std::string>{"disk.img", "usr.img", "image.json", "sbom.spdx.json"}));
  // No work directory is left next to the output.
  for (const auto& e : std::filesystem::directory_iterator(dir_->path())) {
    EXPECT_EQ(e.path().filename().string().find(".out.basalt-"), std::string::npos) << e.path();
  }
}

TEST_F(ImageBuildTest, SfdiskSeesFlatcarLayout) {
  auto r = Sh("sfdisk --json " + out_ + "/disk.img");
  ASSERT_EQ(r.status, 0) << r.output;
  auto pt = nlohmann::json::parse(r.output)["partitiontable"];
  EXPECT_EQ(pt["label"], "gpt");
  std::map<std::string, nlohmann::json> by_node;
  for (const auto& p : pt["partitions"])
    by_node[p["node"]] = p;
  struct Want {
    int n;
    const char* name;
    const char* type;
  };
  for (Want w : {Want{1, "EFI-SYSTEM", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
                 Want{3, "USR-A", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6"},
                 Want{4, "USR-B", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6"},
                 Want{6, "OEM", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
                 Want{9, "ROOT", "3884DD41-8582-4404-B9A8-E9B84F2DF50E"}}) {
    std::string node = out_ + "/disk.img" + std::to_string(w.n);
    ASSERT_TRUE(by_node.contains(node)) << node << "\n" << r.output;
    const auto& p = by_node[node];
    EXPECT_EQ(p["name"], w.name);
    EXPECT_EQ(p["type"], w.type);
    for (const auto& rec : record_["disk"]["partitions"]) {
      if (rec["number"] != w.n) continue;
      std::string uuid = rec["uuid"];
      for (auto& c : uuid)
        c = static_cast<char>(toupper(c));
      EXPECT_EQ(p["uuid"], uuid);
      EXPECT_EQ(p["start"].get<uint64_t>() * 512, rec["offset"].get<uint64_t>());
      EXPECT_EQ(p["size"].get<uint64_t>() * 512, rec["size"].get<uint64_t>());
    }
  }
  EXPECT_EQ(by_node[out_ + "/disk.img3"]["size"].get<uint64_t>() * 512, 96u << 20);  // SmallSizes()
  EXPECT_EQ(by_node[out_ + "/disk.img4"]["size"].get<uint64_t>() * 512, 96u << 20);
}

TEST_F(ImageBuildTest, SgdiskSeesGptprioBits) {
  if (!HaveTool("sgdisk")) GTEST_SKIP() << "sgdisk (gdisk) not installed";
  auto a = Sh("sgdisk -A 3:show " + out_ + "/disk.img");
  ASSERT_EQ(a.status, 0) << a.output;
  EXPECT_NE(a.output.find("3:48:1"), std::string::npos) << a.output;  // priority 1
  EXPECT_NE(a.output.find("3:56:1"), std::string::npos) << a.output;  // successful
  EXPECT_EQ(a.output.find("3:49:1"), std::string::npos) << a.output;
  EXPECT_EQ(a.output.find(":52:1"), std::string::npos) << a.output;  // no tries
  auto b = Sh("sgdisk -A 4:show " + out_ + "/disk.img");
  ASSERT_EQ(b.status, 0) << b.output;
  EXPECT_EQ(b.output.find("4:4"), std::string::npos) << b.output;  // priority 0, no bits
  EXPECT_EQ(b.output.find("4:56"), std::string::npos) << b.output;
}

TEST_F(ImageBuildTest, BlkidSeesFilesystemsAndLabels) {
  struct Want {
    int n;
    const char* type;
    const char* label;
  };
  for (Want w : {Want{1, "vfat", "EFI-SYSTEM"}, Want{3, "erofs", nullptr}, Want{6, "ext4", "OEM"},
                 Want{9, "ext4", "ROOT"}}) {
    uint64_t offset = 0;
    for (const auto& p : record_["disk"]["partitions"]) {
      if (p["number"] == w.n) offset = p["offset"];
    }
    auto r = Sh("blkid -p -o export -O " + std::to_string(offset) + " " + out_ + "/disk.img");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(std::string("TYPE=") + w.type + "\n"), std::string::npos) << r.output;
    if (w.label) {
      EXPECT_NE(r.output.find(std::string("LABEL=") + w.label + "\n"), std::string::npos)
          << r.output;
    }
  }
}

TEST_F(ImageBuildTest, VeritysetupVerifiesUsrImgAndPartition) {
  if (!HaveTool("veritysetup")) GTEST_SKIP() << "veritysetup (cryptsetup-bin) not installed";
  const auto& usr = record_["usr"];
  std::string args = " --hash-offset=" + std::to_string(usr["hash_offset"].get<uint64_t>()) + " " +
                     usr["root_hash"].get<std::string>();
  auto r = Sh("veritysetup verify " + out_ + "/usr.img " + out_ + "/usr.img" + args);
  EXPECT_EQ(r.status, 0) << r.output;
  // The USR-A partition holds the same bytes.
  std::string part = Partition(3);
  r = Sh("veritysetup verify " + part + " " + part + args);
  EXPECT_EQ(r.status, 0) << r.output;
  // A wrong root hash is refused (the check can fail).
  std::string wrong = usr["root_hash"].get<std::string>();
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  r = Sh("veritysetup verify " + out_ + "/usr.img " + out_ + "/usr.img --hash-offset=" +
         std::to_string(usr["hash_offset"].get<uint64_t>()) + " " + wrong);
  EXPECT_NE(r.status, 0) << r.output;
  // veritysetup's own view of the superblock agrees with image.json.
  r = Sh("veritysetup dump " + out_ +
         "/usr.img --hash-offset=" + std::to_string(usr["hash_offset"].get<uint64_t>()));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(usr["salt"].get<std::string>()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(usr["uuid"].get<std::string>()), std::string::npos) << r.output;
  size_t line = r.output.find("Data blocks:");
  ASSERT_NE(line, std::string::npos) << r.output;
  std::string blocks = r.output.substr(line + 12, r.output.find('\n', line) - line - 12);
  EXPECT_EQ(std::stoull(blocks), usr["data_blocks"].get<uint64_t>()) << r.output << r.output;
  struct stat st;
  ASSERT_EQ(stat((out_ + "/usr.img").c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), usr["size"].get<uint64_t>());
  EXPECT_EQ(usr["hash_offset"].get<uint64_t>(), usr["data_blocks"].get<uint64_t>() * 4096);
  EXPECT_EQ(ToHex(*Sha256File(out_ + "/usr.img")), usr["sha256"]);
}

TEST_F(ImageBuildTest, FsckToolsFindNothingWrong) {
  auto r = Sh("fsck.erofs " + out_ + "/usr.img");
  EXPECT_EQ(r.status, 0) << r.output;
  r = Sh("PATH=$PATH:/usr/sbin:/sbin fsck.vfat -n " + Partition(1));
  EXPECT_EQ(r.status, 0) << r.output;
  for (int n : {6, 9}) {
    r = Sh("PATH=$PATH:/usr/sbin:/sbin e2fsck -fn " + Partition(n));
    EXPECT_EQ(r.status, 0) << r.output;
  }
}

TEST_F(ImageBuildTest, EspHoldsGrubKernelInitramfsAndReadableGrubenv) {
  std::string esp = Partition(1);
  std::string dir = dir_->path() + "/esp-files";
  std::filesystem::create_directories(dir);
  auto r = Sh("MTOOLS_SKIP_CHECK=1 mcopy -s -n -i " + esp + " ::/EFI ::/basalt " + dir);
  ASSERT_EQ(r.status, 0) << r.output;
  // bootloader/'s grub backend layout: state in /basalt/grubenv, slot A good with priority 1.
  r = Sh("grub-editenv " + dir + "/basalt/grubenv list");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("basalt_A_priority=1\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("basalt_A_ok=1\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("basalt_B_priority=0\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("basalt_B_ok=0\n"), std::string::npos) << r.output;
  EXPECT_EQ(std::filesystem::file_size(dir + "/basalt/grubenv"), 1024u);
  // BOOTX64.EFI is a PE image; grub.cfg loads the grubenv.
  std::ifstream efi(dir + "/EFI/BOOT/BOOTX64.EFI", std::ios::binary);
  char mz[2] = {};
  efi.read(mz, 2);
  EXPECT_EQ(std::string(mz, 2), "MZ");
  std::ifstream grub_cfg(dir + "/EFI/BOOT/grub.cfg");
  std::string grub_text((std::istreambuf_iterator<char>(grub_cfg)), {});
  EXPECT_NE(grub_text.find("load_env --file"), std::string::npos) << grub_text;
  // Slot A's kernel is the tree's kernel.
  EXPECT_EQ(ToHex(*Sha256File(dir + "/basalt/A/vmlinuz")), record_["kernel"]["sha256"]);
  EXPECT_EQ(ToHex(*Sha256File(tree_ + "/boot/vmlinuz-6.1.0-99-test-amd64")),
            record_["kernel"]["sha256"]);
  // The command line names USR-A and the root hash.
  std::ifstream cfg(dir + "/basalt/A.cfg");
  std::string text((std::istreambuf_iterator<char>(cfg)), {});
  EXPECT_NE(text.find("basalt.usrhash=" + record_["usr"]["root_hash"].get<std::string>()),
            std::string::npos);
  EXPECT_NE(text.find("basalt.usr=PARTUUID=" + record_["usr"]["partuuid"].get<std::string>()),
            std::string::npos);
  EXPECT_NE(text.find("basalt_version=\"1.2.3\""), std::string::npos) << text;
  // The initramfs is the one in /usr, a newc cpio that GNU cpio lists, with basalt-init as /init.
  EXPECT_EQ(ToHex(*Sha256File(dir + "/basalt/A/initrd.img")), record_["initramfs"]["sha256"]);
  EXPECT_EQ(record_["initramfs"]["path"], "/usr/lib/modules/6.1.0-99-test-amd64/initrd.img");
  r = Sh("cpio -it < " + dir + "/basalt/A/initrd.img");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\ninit\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bin/busybox\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("dev/console\n"), std::string::npos) << r.output;
  r = Sh("cd " + dir + " && cpio -i --quiet --to-stdout init < basalt/A/initrd.img | sha256sum");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.substr(0, 64),
            ToHex(*Sha256File(std::string(getenv("BASALT_BIN_DIR")) + "/basalt-init")));
}

// `basalt boot status --disk` reads a fresh image as the backend it was built for.
TEST_F(ImageBuildTest, BootStatusShowsSlotAGoodAndNext) {
  auto r = Sh(BasaltBin() + " boot status --disk " + out_ + "/disk.img --json");
  ASSERT_EQ(r.status, 0) << r.output;
  auto status = nlohmann::json::parse(r.output);
  EXPECT_EQ(status["backend"], "grub");
  EXPECT_EQ(status["next"], "A");
  EXPECT_FALSE(status.contains("current"));
  EXPECT_EQ(status["slots"]["A"]["state"], "good");
  EXPECT_EQ(status["slots"]["A"]["priority"], 1);
  EXPECT_EQ(status["slots"]["A"]["version"], "1.2.3");
  EXPECT_EQ(status["slots"]["A"]["usr_root_hash"], record_["usr"]["root_hash"]);
  EXPECT_EQ(status["slots"]["B"]["priority"], 0);
  EXPECT_EQ(status["slots"]["B"]["version"], "");
  // The group-level spelling of the issue works too.
  auto r2 = Sh(BasaltBin() + " boot --disk " + out_ + "/disk.img status --json");
  ASSERT_EQ(r2.status, 0) << r2.output;
  EXPECT_EQ(nlohmann::json::parse(r2.output), status);
}

// The other two backends build, and status reads each as what it is; gptprio agrees with sgdisk.
TEST_F(ImageBuildTest, SystemdBootAndGptprioImagesBuild) {
  for (std::string backend : {"systemd-boot", "gptprio"}) {
    std::string out = dir_->path() + "/out-" + backend;
    auto r = Sh(BasaltBin() + " image build --rootfs " + tree_ + " --output " + out + " " +
                SmallSizes() + " --version 2.0 --seed test-seed --source-date-epoch 1700000000" +
                " --boot-backend " + backend + " --kernel-cmdline console=ttyS0");
    ASSERT_EQ(r.status, 0) << r.output;
    auto record = ReadJson(out + "/image.json");
    EXPECT_EQ(record["boot_backend"], backend);
    r = Sh(BasaltBin() + " boot status --disk " + out + "/disk.img --json");
    ASSERT_EQ(r.status, 0) << r.output;
    auto status = nlohmann::json::parse(r.output);
    EXPECT_EQ(status["backend"], backend);
    EXPECT_EQ(status["next"], "A");
    EXPECT_EQ(status["slots"]["A"]["state"], "good");
    EXPECT_EQ(status["slots"]["A"]["version"], "2.0");
    EXPECT_EQ(status["slots"]["A"]["usr_root_hash"], record["usr"]["root_hash"]);
    if (backend == "gptprio") {
      // Priority 1 (bit 48) and successful (bit 56), as sgdisk sees them.
      r = Sh("sgdisk -A 3:show " + out + "/disk.img");
      ASSERT_EQ(r.status, 0) << r.output;
      EXPECT_NE(r.output.find("3:48:1 "), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("3:56:1 "), std::string::npos) << r.output;
      EXPECT_EQ(r.output.find("3:52:1 "), std::string::npos) << r.output;  // no tries
      r = Sh("sgdisk -A 4:show " + out + "/disk.img");
      EXPECT_EQ(r.output.find("4:"), std::string::npos) << r.output;  // no bits on USR-B
    } else {
      r = Sh("MTOOLS_SKIP_CHECK=1 mdir -b -i " + out + "/disk.img@@1048576 ::/loader/entries");
      ASSERT_EQ(r.status, 0) << r.output;
      EXPECT_NE(r.output.find("basalt-1-A.conf"), std::string::npos) << r.output;
    }
  }
}

TEST_F(ImageBuildTest, ImageJsonHasTheAgreedFields) {
  EXPECT_EQ(record_["version"], "1.2.3");
  EXPECT_EQ(record_["boot_backend"], "grub");
  EXPECT_EQ(record_["usr"]["filesystem"], "erofs");
  EXPECT_EQ(record_["usr"]["hash_algorithm"], "sha256");
  EXPECT_EQ(record_["usr"]["data_block_size"], 4096);
  EXPECT_EQ(record_["usr"]["hash_block_size"], 4096);
  EXPECT_EQ(record_["usr"]["salt"].get<std::string>().size(), 64u);
  EXPECT_EQ(record_["kernel"]["version"], "6.1.0-99-test-amd64");
  EXPECT_EQ(record_["kernel"]["path"], "/usr/lib/modules/6.1.0-99-test-amd64/vmlinuz");
  EXPECT_EQ(record_["input_kind"], "directory");
  EXPECT_EQ(record_["input_digest"].get<std::string>().rfind("sha256:", 0), 0u);
  EXPECT_EQ(record_["source_date_epoch"], 1700000000);
  EXPECT_EQ(record_["seed"], "test-seed");
  EXPECT_EQ(record_["builder"]["name"], "basalt");
  EXPECT_TRUE(record_["timings_ms"].contains("usr_erofs"));
  EXPECT_EQ(record_["disk"]["size"].get<uint64_t>(),
            std::filesystem::file_size(out_ + "/disk.img"));
  EXPECT_EQ(ToHex(*Sha256File(out_ + "/disk.img")), record_["disk"]["sha256"]);
  EXPECT_EQ(ToHex(*Sha256File(out_ + "/sbom.spdx.json")), record_["sbom"]["sha256"]);
}

TEST_F(ImageBuildTest, SbomListsInstalledDpkgPackages) {
  auto sbom = ReadJson(out_ + "/sbom.spdx.json");
  EXPECT_EQ(sbom["spdxVersion"], "SPDX-2.3");
  std::map<std::string, std::string> versions;
  for (const auto& p : sbom["packages"])
    versions[p["name"]] = p["versionInfo"];
  EXPECT_EQ(versions["busybox-static"], "1:1.35.0-4+b3");
  EXPECT_EQ(versions["libc6"], "2.36-9+deb12u7");
  EXPECT_FALSE(versions.contains("removed-pkg"));
}

// The kernel's erofs, when loop devices are available (CI runs as root), is the most faithful
// reader: it shows setuid bits, xattrs and hardlinks exactly as a booted host sees them.
TEST_F(ImageBuildTest, UsrTreeMatchesInputThroughKernelMount) {
  std::string mnt = dir_->path() + "/mnt";
  std::filesystem::create_directories(mnt);
  auto r = Sh("mount -t erofs -o ro,loop " + out_ + "/usr.img " + mnt);
  if (r.status != 0) GTEST_SKIP() << "cannot loop-mount erofs here: " << r.output;
  Hasher want(HashAlgorithm::kSha256), got(HashAlgorithm::kSha256);
  // The input's /usr plus the kernel the builder placed in it.
  TempDir expect_dir;
  std::string expect = expect_dir.path() + "/usr";
  auto cp =
      Sh("cp -a " + tree_ + "/usr " + expect + " && mkdir -p " + expect +
         "/lib/modules/6.1.0-99-test-amd64 && cp " + tree_ + "/boot/vmlinuz-6.1.0-99-test-amd64 " +
         expect + "/lib/modules/6.1.0-99-test-amd64/vmlinuz && chmod 644 " + expect +
         "/lib/modules/6.1.0-99-test-amd64/vmlinuz && MTOOLS_SKIP_CHECK=1 mcopy -n -i " +
         Partition(1) + " ::/basalt/A/initrd.img " + expect +
         "/lib/modules/6.1.0-99-test-amd64/initrd.img && chmod 644 " + expect +
         "/lib/modules/6.1.0-99-test-amd64/initrd.img");
  ASSERT_EQ(cp.status, 0) << cp.output;
  auto a = ListTree(expect, "/usr", &want, nullptr);
  auto b = ListTree(mnt, "/usr", &got, nullptr);
  struct stat s1, s2;
  bool hardlinked = stat((mnt + "/share/doc/busybox/copyright").c_str(), &s1) == 0 &&
                    stat((mnt + "/share/doc/busybox/copyright.hardlink").c_str(), &s2) == 0 &&
                    s1.st_ino == s2.st_ino && s1.st_nlink == 2;
  struct stat suid;
  bool has_suid = stat((mnt + "/bin/busybox").c_str(), &suid) == 0 && (suid.st_mode & 04000);
  Sh("umount " + mnt);
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(ToHex(want.Final()), ToHex(got.Final()));
  EXPECT_TRUE(hardlinked);
  EXPECT_TRUE(has_suid);
}

// Without mounts: fsck.erofs --extract for contents/owners/links/devices and dump.erofs for
// hardlinks and xattrs (erofs-utils 1.5's extractor restores neither hardlinks nor xattrs).
TEST_F(ImageBuildTest, UsrTreeMatchesInputThroughErofsUtils) {
  std::string ex = dir_->path() + "/extract";
  auto r = Sh("fsck.erofs --extract=" + ex + " --preserve " + out_ + "/usr.img");
  ASSERT_EQ(r.status, 0) << r.output;
  auto st_of = [](const std::string& p) {
    struct stat st {};
    lstat(p.c_str(), &st);
    return st;
  };
  EXPECT_EQ(st_of(ex + "/lib/x86_64-linux-gnu/owned-by-alice").st_uid, 1000u);
  EXPECT_EQ(st_of(ex + "/lib/x86_64-linux-gnu/owned-by-alice").st_mode & 07777, 0640u);
  EXPECT_EQ(st_of(ex + "/lib/x86_64-linux-gnu/owned-by-daemon").st_uid, 1u);
  EXPECT_EQ(st_of(ex + "/share/games").st_gid, 60u);
  // The tree's device nodes are under /dev, which is not staged (devtmpfs provides it).
  EXPECT_FALSE(std::filesystem::exists(ex + "/lib/null"));
  char target[256] = {};
  ASSERT_GT(readlink((ex + "/sbin/init").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "/usr/bin/busybox");
  EXPECT_EQ(ToHex(*Sha256File(ex + "/bin/busybox")),
            ToHex(*Sha256File(tree_ + "/usr/bin/busybox")));
  EXPECT_EQ(ToHex(*Sha256File(ex + "/lib/modules/6.1.0-99-test-amd64/vmlinuz")),
            record_["kernel"]["sha256"]);
  auto a = Sh("dump.erofs --path=/share/doc/busybox/copyright " + out_ + "/usr.img");
  auto b = Sh("dump.erofs --path=/share/doc/busybox/copyright.hardlink " + out_ + "/usr.img");
  ASSERT_EQ(a.status, 0) << a.output;
  auto nid = [](const std::string& s) {
    return s.substr(s.find("NID:"), s.find("Layout") - s.find("NID:"));
  };
  EXPECT_EQ(nid(a.output), nid(b.output));
  EXPECT_NE(a.output.find("Links: 2"), std::string::npos) << a.output;
  auto c = Sh("dump.erofs --path=/bin/ping " + out_ + "/usr.img");
  EXPECT_EQ(c.output.find("Xattr size: 0"), std::string::npos) << c.output;
}

TEST(ImageBuildReproducible, TwoBuildsAreByteIdentical) {
  TempDir d1, d2;
  MakeTestTree(d1.path() + "/tree");
  // Same content, different mtimes, paths, umask and wall clock.
  ASSERT_EQ(Sh("cp -a " + d1.path() + "/tree " + d2.path() + "/other-tree && touch " + d2.path() +
               "/other-tree/etc/passwd " + d2.path() + "/other-tree/usr/bin/busybox")
                .status,
            0);
  std::string common = " " + SmallSizes() + " --seed s --source-date-epoch 1600000000";
  auto r1 = Sh("umask 022; " + BasaltBin() + " image build --rootfs " + d1.path() +
               "/tree --output " + d1.path() + "/out" + common);
  ASSERT_EQ(r1.status, 0) << r1.output;
  sleep(1);
  auto r2 = Sh("umask 077; TZ=Asia/Tokyo " + BasaltBin() + " image build --rootfs " + d2.path() +
               "/other-tree --output " + d2.path() + "/o2" + common);
  ASSERT_EQ(r2.status, 0) << r2.output;
  for (const char* f : {"disk.img", "usr.img", "sbom.spdx.json"}) {
    EXPECT_EQ(ToHex(*Sha256File(d1.path() + "/out/" + f)),
              ToHex(*Sha256File(d2.path() + "/o2/" + f)))
        << f;
  }
  auto j1 = ReadJson(d1.path() + "/out/image.json");
  auto j2 = ReadJson(d2.path() + "/o2/image.json");
  j1.erase("timings_ms");
  j2.erase("timings_ms");
  EXPECT_EQ(j1.dump(), j2.dump());
}

class ImageBuildErrors : public ::testing::Test {
 protected:
  void ExpectFailsCleanly(const std::string& args, const std::string& message_part) {
    auto r = Sh(BasaltBin() + " image build " + args + " --output " + dir_.path() + "/out");
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(message_part), std::string::npos) << r.output;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
      EXPECT_TRUE(e.path().filename() == "tree" || e.path().filename() == "input.tar")
          << "left behind: " << e.path();
    }
  }
  TempDir dir_;
};

TEST_F(ImageBuildErrors, UsrDoesNotFit) {
  MakeTestTree(dir_.path() + "/tree");
  ExpectFailsCleanly("--rootfs " + dir_.path() +
                         "/tree --usr-size 3MiB --root-size 40MiB "
                         "--esp-size 64MiB --oem-size 8MiB",
                     "the /usr tree needs ");
  ExpectFailsCleanly("--rootfs " + dir_.path() +
                         "/tree --usr-size 3MiB --root-size 40MiB "
                         "--esp-size 64MiB --oem-size 8MiB",
                     "USR-A is 3.00 MiB");
}

TEST_F(ImageBuildErrors, NoKernel) {
  MakeTestTree(dir_.path() + "/tree");
  std::filesystem::remove(dir_.path() + "/tree/boot/vmlinuz-6.1.0-99-test-amd64");
  ExpectFailsCleanly("--rootfs " + dir_.path() + "/tree " + SmallSizes(), "no kernel in the tree");
}

TEST_F(ImageBuildErrors, BrokenTarball) {
  MakeTestTree(dir_.path() + "/tree");
  ASSERT_EQ(Sh("tar -C " + dir_.path() + "/tree -cf " + dir_.path() +
               "/input.tar . && truncate -s 100000 " + dir_.path() + "/input.tar")
                .status,
            0);
  ExpectFailsCleanly("--rootfs " + dir_.path() + "/input.tar " + SmallSizes(), "input.tar");
}

TEST_F(ImageBuildErrors, NonEmptyOutputIsRefused) {
  MakeTestTree(dir_.path() + "/tree");
  std::filesystem::create_directories(dir_.path() + "/out");
  std::ofstream(dir_.path() + "/out/keep") << "x";
  auto r = Sh(BasaltBin() + " image build --rootfs " + dir_.path() + "/tree --output " +
              dir_.path() + "/out " + SmallSizes());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("not empty"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/out/keep"));
}

}  // namespace
}  // namespace basalt::image::testing
