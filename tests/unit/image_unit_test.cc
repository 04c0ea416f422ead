#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/root_dir.h"
#include "cpio.h"
#include "image/definition.h"
#include "kernel.h"
#include "sbom.h"
#include "seed.h"
#include "test_util.h"

namespace basalt::image {
namespace {

TEST(Definition, EmptyFileGivesDefaults) {
  auto def = ParseDefinition("", "empty.toml");
  ASSERT_TRUE(def) << def.error().message();
  EXPECT_EQ(def->version, "0.0.0");
  EXPECT_EQ(def->sizes.usr, 1024 * kMiB);
  EXPECT_EQ(def->sizes.esp, 256 * kMiB);
  EXPECT_EQ(def->usr_compression, UsrCompression::kNone);
  EXPECT_EQ(def->boot_backend, "grub");
  EXPECT_FALSE(def->seed.has_value());
  EXPECT_NE(std::find(def->root_seed.begin(), def->root_seed.end(), "etc"), def->root_seed.end());
}

TEST(Definition, ParsesEveryKey) {
  auto def = ParseDefinition(R"(
version = "3.1.4"
os_name = "Pebble"
seed = "abc"
source_date_epoch = 1234
[partitions]
esp_size = "128MiB"
usr_size = "2GiB"
oem_size = 67108864
root_size = "1.5GiB"
[usr]
filesystem = "erofs"
compression = "lz4hc"
[kernel]
cmdline = "quiet"
[boot]
backend = "grub"
[root]
seed = ["/etc/", "var"]
[signing]
key = "/keys/release.pem"
)",
                             "full.toml");
  ASSERT_TRUE(def) << def.error().message();
  EXPECT_EQ(def->version, "3.1.4");
  EXPECT_EQ(def->os_name, "Pebble");
  EXPECT_EQ(*def->seed, "abc");
  EXPECT_EQ(*def->source_date_epoch, 1234);
  EXPECT_EQ(def->sizes.esp, 128 * kMiB);
  EXPECT_EQ(def->sizes.usr, 2048 * kMiB);
  EXPECT_EQ(def->sizes.oem, 64 * kMiB);
  EXPECT_EQ(def->sizes.root, 1536 * kMiB);
  EXPECT_EQ(def->usr_compression, UsrCompression::kLz4hc);
  EXPECT_EQ(def->kernel_cmdline, "quiet");
  EXPECT_EQ(def->root_seed, (std::vector<std::string>{"etc", "var"}));
  EXPECT_EQ(*def->signing_key, "/keys/release.pem");
}

TEST(Definition, RejectsWithTheKeyNamed) {
  struct Case {
    const char* toml;
    const char* message;
  };
  for (Case c : {Case{"versoin = \"1\"", "unknown key 'versoin'"},
                 Case{"[partitions]\nusr = \"1GiB\"", "unknown key 'partitions.usr'"},
                 Case{"[partitions]\nusr_size = \"1.1MiB\"", "whole number of MiB"},
                 // Found by fuzz_image_definition: ".1" rounded to a 0-byte partition.
                 Case{"[partitions]\nusr_size = \".1\"", "whole number of MiB"},
                 Case{"[partitions]\nusr_size = 12", "partitions.usr_size"},
                 Case{"[usr]\ncompression = \"zstd\"", "none or lz4hc"},
                 Case{"[usr]\nfilesystem = \"squashfs\"", "only erofs"},
                 Case{"[boot]\nbackend = \"lilo\"", "lilo"},
                 Case{"[root]\nseed = [\"usr\"]", "other than usr"},
                 Case{"[root]\nseed = [\"a/b\"]", "one top-level"},
                 Case{"version = 3", "'version' must be a string"},
                 Case{"usr = 3", "'usr' must be a table"}, Case{"version = \"1\nx", "bad.toml:"}}) {
    auto def = ParseDefinition(c.toml, "bad.toml");
    ASSERT_FALSE(def) << c.toml;
    EXPECT_NE(def.error().message().find(c.message), std::string::npos)
        << c.toml << " -> " << def.error().message();
  }
}

TEST(Definition, Sizes) {
  EXPECT_EQ(*ParseSize("1GiB"), 1024 * kMiB);
  EXPECT_EQ(*ParseSize("512M"), 512 * kMiB);
  EXPECT_EQ(*ParseSize("1048576"), kMiB);
  EXPECT_FALSE(ParseSize("GiB"));
  EXPECT_FALSE(ParseSize("1 PiB"));
  EXPECT_FALSE(ParseSize("0MiB"));
  EXPECT_FALSE(ParseSize("100"));
  EXPECT_EQ(HumanSize(1407374884ULL), "1.31 GiB");
  EXPECT_EQ(HumanSize(1024 * kMiB), "1.00 GiB");
}

TEST(Seed, DeterministicAndPurposeSeparated) {
  SeedDeriver a("seed"), b("seed"), c("other");
  EXPECT_EQ(a.Uuid("disk"), b.Uuid("disk"));
  EXPECT_NE(a.Uuid("disk"), a.Uuid("usr"));
  EXPECT_NE(a.Uuid("disk"), c.Uuid("disk"));
  std::string u = a.Uuid("disk");
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '8');                                          // version 8
  EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos);  // RFC variant
  EXPECT_EQ(a.Bytes("salt", 100).size(), 100u);
  std::vector<uint8_t> long_salt = a.Bytes("salt", 100);
  EXPECT_EQ(std::vector<uint8_t>(long_salt.begin(), long_salt.begin() + 32), a.Bytes("salt", 32));
}

TEST(Cpio, NewcLayout) {
  CpioWriter w(1700000000);
  w.AddDirectory("bin");
  w.AddFile("bin/x", "abc", 0755);
  std::string a = w.Finish();
  ASSERT_EQ(a.size() % 4, 0u);
  EXPECT_EQ(a.substr(0, 6), "070701");
  // First header: ino 1, mode 040755, mtime 0x6553f100, name "bin" + NUL (namesize 4).
  EXPECT_EQ(a.substr(6, 8), "00000001");
  EXPECT_EQ(a.substr(14, 8), "000041ed");
  EXPECT_EQ(a.substr(46, 8), "6553f100");
  EXPECT_EQ(a.substr(94, 8), "00000004");
  EXPECT_EQ(a.substr(110, 4), std::string("bin\0", 4));
  EXPECT_NE(a.find("TRAILER!!!"), std::string::npos);
  EXPECT_NE(a.find("abc"), std::string::npos);
  CpioWriter again(1700000000);
  again.AddDirectory("bin");
  again.AddFile("bin/x", "abc", 0755);
  EXPECT_EQ(again.Finish(), a);
}

TEST(Cpio, GnuCpioListsIt) {
  if (system("command -v cpio >/dev/null 2>&1") != 0) GTEST_SKIP() << "cpio not installed";
  CpioWriter w(0);
  w.AddDirectory("etc");
  w.AddFile("etc/hostname", "basalt\n");
  w.AddSymlink("init", "/bin/sh");
  w.AddCharDevice("console", 0600, 5, 1);
  std::string path = std::filesystem::temp_directory_path() / "basalt-cpio-test.cpio";
  std::ofstream(path, std::ios::binary) << w.Finish();
  FILE* p = popen(("cpio -it --quiet < " + path + " 2>&1").c_str(), "r");
  char buf[1024] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(std::string(buf, n), "etc\netc/hostname\ninit\nconsole\n");
  std::filesystem::remove(path);
}

TEST(DpkgStatus, InstalledPackagesOnly) {
  auto pkgs = ParseDpkgStatus(
      "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\n"
      "Version: 1:1.2.13.dfsg-1\nDescription: compression\n library\n\n"
      "Package: old\nStatus: deinstall ok config-files\nVersion: 1\n\n"
      "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n");
  ASSERT_TRUE(pkgs) << pkgs.error().message();
  ASSERT_EQ(pkgs->size(), 2u);
  EXPECT_EQ((*pkgs)[0].name, "bash");
  EXPECT_EQ((*pkgs)[1].name, "zlib1g");
  EXPECT_EQ((*pkgs)[1].source, "zlib");
  EXPECT_EQ((*pkgs)[1].version, "1:1.2.13.dfsg-1");
}

TEST(DpkgStatus, RejectsMalformed) {
  EXPECT_FALSE(ParseDpkgStatus(" leading continuation\n"));
  EXPECT_FALSE(ParseDpkgStatus("no colon here\n"));
  EXPECT_FALSE(ParseDpkgStatus("Status: install ok installed\nVersion: 1\n"));  // no Package
  EXPECT_FALSE(ParseDpkgStatus("Package: a\nStatus: install ok installed\n"));  // no Version
}

TEST(Sbom, SpdxDocument) {
  SbomInputs in;
  in.os_name = "Basalt";
  in.version = "1.0";
  in.input_digest = "sha256:00";
  in.created = 0;
  in.builder_version = "0.1.0";
  in.packages = std::vector<DpkgPackage>{{"bash", "5.2-1", "amd64", ""}};
  auto doc = MakeSpdx(in);
  EXPECT_EQ(doc["spdxVersion"], "SPDX-2.3");
  EXPECT_EQ(doc["creationInfo"]["created"], "1970-01-01T00:00:00Z");
  ASSERT_EQ(doc["packages"].size(), 2u);
  EXPECT_EQ(doc["packages"][1]["externalRefs"][0]["referenceLocator"],
            "pkg:deb/debian/bash@5.2-1?arch=amd64");
  in.packages.reset();
  auto unknown = MakeSpdx(in);
  ASSERT_EQ(unknown["packages"].size(), 1u);
  EXPECT_NE(unknown["packages"][0]["comment"].get<std::string>().find("unknown"),
            std::string::npos);
}

TEST(Sbom, SetuidAndSetgidFilesAreFindings) {
  SbomInputs in;
  in.os_name = "Basalt";
  in.version = "1.0";
  in.created = 1600000000;
  in.builder_version = "0.1.0";
  in.setid_files = {
      {"/usr/bin/su", 04755, 0, 0}, {"/usr/bin/wall", 02755, 0, 5}, {"/usr/bin/a\nb", 06750, 0, 0}};
  auto doc = MakeSpdx(in);
  const auto& annotations = doc["packages"][0]["annotations"];
  ASSERT_EQ(annotations.size(), 3u);
  EXPECT_EQ(annotations[0]["annotationType"], "REVIEW");
  EXPECT_EQ(annotations[0]["annotator"], "Tool: basalt-0.1.0");
  EXPECT_EQ(annotations[0]["annotationDate"], "2020-09-13T12:26:40Z");
  EXPECT_EQ(annotations[0]["comment"],
            "basalt finding: setuid file /usr/bin/su (mode 4755, owner 0:0)");
  EXPECT_EQ(annotations[1]["comment"],
            "basalt finding: setgid file /usr/bin/wall (mode 2755, owner 0:5)");
  EXPECT_EQ(annotations[2]["comment"],
            "basalt finding: setuid+setgid file /usr/bin/a\\x0ab (mode 6750, owner 0:0)");
  in.setid_files.clear();
  EXPECT_FALSE(MakeSpdx(in)["packages"][0].contains("annotations"));
}

TEST(Definition, InputMaxSize) {
  auto def = ParseDefinition("[input]\nmax_size = \"8GiB\"", "d.toml");
  ASSERT_TRUE(def) << def.error().message();
  EXPECT_EQ(def->max_input_size, 8ULL << 30);
  EXPECT_FALSE(ParseDefinition("", "d.toml")->max_input_size);
  auto bad = ParseDefinition("[input]\nmax = 1", "d.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("unknown key 'input.max'"), std::string::npos)
      << bad.error().message();
}

// The kernel steps over hostile trees: a canary next to the tree must stay unread and
// untouched, and nothing may be created outside the tree.
class KernelStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_ = dir_ / "tree";
    canary_ = dir_ / "canary";
    std::filesystem::create_directories(tree_ + "/usr/lib/modules");
    std::filesystem::create_directories(tree_ + "/boot");
    std::filesystem::create_directories(canary_);
    ASSERT_TRUE(WriteFileAtomic(canary_ + "/release-key.pem", std::string(kCanary)));
    ASSERT_TRUE(WriteFileAtomic(tree_ + "/boot/vmlinuz-6.1.0", std::string("tree kernel")));
  }
  RootDir Root() { return std::move(*RootDir::Open(tree_, "rootfs /in.tar")); }
  void ExpectCanaryIntact() {
    EXPECT_EQ(*ReadFileToString(canary_ + "/release-key.pem"), kCanary);
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(canary_)) {
      (void)e;
      ++n;
    }
    EXPECT_EQ(n, 1u);
  }
  static constexpr std::string_view kCanary = "kernel-step canary 0f3e9b: the signing key";
  basalt::testing::TempDir dir_;
  std::string tree_, canary_;
};

TEST_F(KernelStepTest, AModuleDirectoryLinkedOutIsNeverWrittenThrough) {
  std::filesystem::create_symlink(canary_, tree_ + "/usr/lib/modules/6.1.0");
  RootDir tree = Root();
  auto k = FindKernel(tree);
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_EQ(k->source_path, "/boot/vmlinuz-6.1.0");
  auto placed = PlaceKernelInUsr(tree, *k, 0);
  ASSERT_FALSE(placed);
  EXPECT_EQ(placed.error().message(),
            "rootfs /in.tar: usr/lib/modules/6.1.0/vmlinuz: a symlink is in the way, and links "
            "are never followed here");
  ExpectCanaryIntact();
}

TEST_F(KernelStepTest, AVmlinuzLinkedToAHostFileIsReplacedByTheTreesKernel) {
  std::filesystem::create_directories(tree_ + "/usr/lib/modules/6.1.0");
  std::filesystem::create_symlink(canary_ + "/release-key.pem",
                                  tree_ + "/usr/lib/modules/6.1.0/vmlinuz");
  RootDir tree = Root();
  auto k = FindKernel(tree);
  ASSERT_TRUE(k) << k.error().message();
  // The link resolves inside the tree, where there is no such file: the kernel is /boot's.
  EXPECT_EQ(k->source_path, "/boot/vmlinuz-6.1.0");
  auto placed = PlaceKernelInUsr(tree, *k, 0);
  ASSERT_TRUE(placed) << placed.error().message();
  EXPECT_EQ(*placed, "tree kernel");
  EXPECT_FALSE(std::filesystem::is_symlink(tree_ + "/usr/lib/modules/6.1.0/vmlinuz"));
  EXPECT_EQ(*ReadFileToString(tree_ + "/usr/lib/modules/6.1.0/vmlinuz"), "tree kernel");
  ExpectCanaryIntact();
}

TEST_F(KernelStepTest, OnlyAKernelLinkedToHostBytesIsNoKernel) {
  std::filesystem::remove(tree_ + "/boot/vmlinuz-6.1.0");
  std::filesystem::create_symlink(canary_ + "/release-key.pem", tree_ + "/boot/vmlinuz-6.1.0");
  auto k = FindKernel(Root());
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_EQ(k.error().message(),
            "rootfs /in.tar: no kernel in the tree: looked for /usr/lib/modules/*/vmlinuz and "
            "/boot/vmlinuz-* (regular files, links resolved inside the tree)");
  ExpectCanaryIntact();
}

TEST_F(KernelStepTest, AKernelVersionThatCouldForgeABootEntryIsRefused) {
  std::filesystem::remove(tree_ + "/boot/vmlinuz-6.1.0");
  ASSERT_TRUE(WriteFileAtomic(tree_ + "/boot/vmlinuz-6.1\nmenuentry x", std::string("k")));
  auto k = FindKernel(Root());
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().message(),
            "rootfs /in.tar: kernel version '6.1\\x0amenuentry x' (/boot/vmlinuz-6.1\\x0amenuentry "
            "x) must be 1-128 of [A-Za-z0-9._+~-], starting with a letter or digit");
}

}  // namespace
}  // namespace basalt::image
