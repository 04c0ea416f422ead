// The initramfs contents for a small tree: ELF dependencies agree with readelf, everything
// basalt-init needs is there, modules come with their dependencies, and the plan is stable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/subprocess.h"
#include "elf_deps.h"
#include "image/initramfs_plan.h"

namespace basalt::boot {
namespace {

namespace fs = std::filesystem;

std::string BasaltInit() {
  return std::string(std::getenv("BASALT_BIN_DIR")) + "/basalt-init";
}

TEST(ElfDeps, AgreesWithReadelf) {
  auto r = RunCommand({"readelf", "-d", "-l", BasaltInit()});
  if (!r || r->exit_code != 0) GTEST_SKIP() << "readelf is not installed";
  auto bytes = ReadFileToString(BasaltInit());
  ASSERT_TRUE(bytes);
  auto deps = ReadElfDeps(*bytes);
  ASSERT_TRUE(deps) << deps.error().message();
  EXPECT_EQ(deps->interpreter, "/lib64/ld-linux-x86-64.so.2");
  std::vector<std::string> peer;
  size_t pos = 0;
  while ((pos = r->out.find("Shared library: [", pos)) != std::string::npos) {
    pos += 17;
    peer.push_back(r->out.substr(pos, r->out.find(']', pos) - pos));
  }
  EXPECT_EQ(deps->needed, peer);
  EXPECT_NE(std::find(peer.begin(), peer.end(), "libcryptsetup.so.12"), peer.end());
}

TEST(ElfDeps, RejectsNonElf) {
  auto r = ReadElfDeps("#!/bin/sh\necho hi\n" + std::string(64, ' '));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no ELF magic"), std::string::npos);
}

class InitramfsPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/basalt-initramfs-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tree_ = tmpl;
    std::string mods = tree_ + "/usr/lib/modules/6.1.0-test/kernel";
    fs::create_directories(mods + "/drivers/virtio");
    fs::create_directories(mods + "/drivers/md");
    fs::create_directories(mods + "/sound");
    for (const char* m : {"drivers/virtio/virtio.ko", "drivers/virtio/virtio_ring.ko",
                          "drivers/virtio/virtio_blk.ko", "drivers/md/dm-mod.ko",
                          "drivers/md/dm-verity.ko", "drivers/md/dm-bufio.ko", "sound/snd.ko"}) {
      ASSERT_TRUE(WriteFileAtomic(mods + "/" + m, std::string("module ") + m));
    }
    ASSERT_TRUE(WriteFileAtomic(
        tree_ + "/usr/lib/modules/6.1.0-test/modules.dep",
        "kernel/drivers/virtio/virtio_blk.ko: kernel/drivers/virtio/virtio.ko "
        "kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/drivers/virtio/virtio_ring.ko:\n"
        "kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko "
        "kernel/drivers/md/dm-mod.ko\n"
        "kernel/drivers/md/dm-bufio.ko:\nkernel/drivers/md/dm-mod.ko:\nkernel/sound/snd.ko:\n"));
    fs::create_directories(tree_ + "/usr/bin");
    fs::copy_file("/usr/bin/busybox", tree_ + "/usr/bin/busybox");
    fs::create_symlink("usr/bin", tree_ + "/bin");
  }
  void TearDown() override { fs::remove_all(tree_); }

  InitramfsSpec Spec() {
    InitramfsSpec spec;
    spec.tree = tree_;
    spec.kernel_version = "6.1.0-test";
    spec.basalt_init = BasaltInit();
    return spec;
  }
  std::string tree_;
};

TEST_F(InitramfsPlanTest, HasEverythingBasaltInitNeeds) {
  if (!fs::exists("/usr/bin/busybox")) GTEST_SKIP() << "busybox is not installed";
  auto plan = PlanInitramfs(Spec());
  ASSERT_TRUE(plan) << plan.error().message();
  std::map<std::string, InitramfsEntry> by_path;
  std::set<std::string> seen_dirs;
  for (const InitramfsEntry& e : *plan) {
    // Parents before children.
    std::string parent = fs::path(e.path).parent_path().string();
    if (!parent.empty()) {
      EXPECT_TRUE(seen_dirs.count(parent)) << e.path;
    }
    if (e.kind == InitramfsEntry::Kind::kDirectory) seen_dirs.insert(e.path);
    by_path[e.path] = e;
  }
  ASSERT_TRUE(by_path.count("init"));
  EXPECT_EQ(by_path["init"].source, BasaltInit());
  EXPECT_EQ(by_path["init"].mode, 0755u);
  EXPECT_TRUE(by_path.count("lib64/ld-linux-x86-64.so.2"));
  EXPECT_TRUE(by_path.count("lib/x86_64-linux-gnu/libcryptsetup.so.12"));
  EXPECT_TRUE(by_path.count("lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_TRUE(by_path.count("lib/x86_64-linux-gnu/libfdisk.so.1"));
  // Transitive: libcryptsetup needs libdevmapper.
  EXPECT_TRUE(by_path.count("lib/x86_64-linux-gnu/libdevmapper.so.1.02.1"));
  // busybox from the tree, found through the bin -> usr/bin symlink too.
  EXPECT_EQ(by_path["bin/busybox"].source, tree_ + "/usr/bin/busybox");
  EXPECT_EQ(by_path["bin/sh"].data, "busybox");
  EXPECT_EQ(by_path["dev/console"].kind, InitramfsEntry::Kind::kCharDevice);
  // Wanted modules with dependencies; unwanted ones left out.
  const std::string m = "lib/modules/6.1.0-test/";
  EXPECT_TRUE(by_path.count(m + "kernel/drivers/virtio/virtio_ring.ko"));
  EXPECT_TRUE(by_path.count(m + "kernel/drivers/md/dm-bufio.ko"));
  EXPECT_FALSE(by_path.count(m + "kernel/sound/snd.ko"));
  const std::string& dep = by_path[m + "modules.dep"].data;
  EXPECT_NE(dep.find("kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko "
                     "kernel/drivers/md/dm-mod.ko\n"),
            std::string::npos);
  EXPECT_EQ(dep.find("snd"), std::string::npos);
  // Every file source exists.
  for (const InitramfsEntry& e : *plan) {
    if (e.kind == InitramfsEntry::Kind::kFile && e.data.empty()) {
      EXPECT_TRUE(fs::is_regular_file(e.source)) << e.path << " <- " << e.source;
    }
  }
}

TEST_F(InitramfsPlanTest, ReproducibleAndClearWithoutModules) {
  auto a = PlanInitramfs(Spec());
  auto b = PlanInitramfs(Spec());
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); i++) {
    EXPECT_EQ((*a)[i].path, (*b)[i].path);
    EXPECT_EQ((*a)[i].source, (*b)[i].source);
  }
  InitramfsSpec spec = Spec();
  spec.kernel_version = "9.9.9";
  auto none = PlanInitramfs(spec);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no modules for kernel 9.9.9"), std::string::npos);
}

}  // namespace
}  // namespace basalt::boot
