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
#include "image/initramfs_stage.h"

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
  void TearDown() override {
    fs::remove_all(tree_);
    fs::remove_all(canary_dir_);
  }

  // A file and a directory outside the tree, with bytes no tree file holds.
  void MakeCanary() {
    canary_dir_ = tree_ + ".canary";
    fs::create_directories(canary_dir_);
    ASSERT_TRUE(WriteFileAtomic(canary_dir_ + "/secret", std::string(kCanary)));
  }
  void ExpectCanaryIntactAndUnread(const std::vector<InitramfsEntry>* plan) {
    EXPECT_EQ(*ReadFileToString(canary_dir_ + "/secret"), kCanary);
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(canary_dir_)) {
      (void)e;
      ++n;
    }
    EXPECT_EQ(n, 1u);
    if (plan == nullptr) return;
    for (const InitramfsEntry& e : *plan)
      EXPECT_EQ(e.data.find(kCanary), std::string::npos) << e.path << " holds the canary";
  }
  static constexpr std::string_view kCanary = "initramfs canary 5b0e7c1d9a: never in an image";
  std::string canary_dir_;

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

TEST_F(InitramfsPlanTest, AModuleLinkedToTheBuildHostIsNeverRead) {
  MakeCanary();
  const std::string m = tree_ + "/usr/lib/modules/6.1.0-test/kernel/drivers/md/dm-verity.ko";
  fs::remove(m);
  fs::create_symlink(canary_dir_ + "/secret", m);
  auto plan = PlanInitramfs(Spec());
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().message(),
            "rootfs " + tree_ +
                ": modules.dep names usr/lib/modules/6.1.0-test/kernel/drivers/md/dm-verity.ko, "
                "which is not a regular file in the tree");
  ExpectCanaryIntactAndUnread(nullptr);
  // The same name inside the tree is the tree's own file, as on the booted host.
  fs::create_directories(tree_ + canary_dir_);
  ASSERT_TRUE(WriteFileAtomic(tree_ + canary_dir_ + "/secret", std::string("tree module")));
  auto own = PlanInitramfs(Spec());
  ASSERT_TRUE(own) << own.error().message();
  bool found = false;
  for (const InitramfsEntry& e : *own) {
    if (e.path == "lib/modules/6.1.0-test/kernel/drivers/md/dm-verity.ko") {
      EXPECT_EQ(e.data, "tree module");
      found = true;
    }
  }
  EXPECT_TRUE(found);
  ExpectCanaryIntactAndUnread(&*own);
}

TEST_F(InitramfsPlanTest, ModulesDepPathsMustStayBelowTheModuleDirectory) {
  MakeCanary();
  const std::string dep = tree_ + "/usr/lib/modules/6.1.0-test/modules.dep";
  for (const std::string& line :
       {"../../../../../.." + canary_dir_ + "/dm-mod.ko:", canary_dir_ + "/dm-mod.ko:",
        std::string("kernel/drivers/md/dm-verity.ko: ../../x/dm-mod.ko")}) {
    ASSERT_TRUE(WriteFileAtomic(dep, line + "\n"));
    auto plan = PlanInitramfs(Spec());
    ASSERT_FALSE(plan) << line;
    EXPECT_EQ(plan.error().kind(), ErrorKind::kInvalidInput);
    EXPECT_EQ(plan.error().message().rfind("modules.dep line 1: path '", 0), 0u)
        << plan.error().message();
  }
  ExpectCanaryIntactAndUnread(nullptr);
}

TEST_F(InitramfsPlanTest, AnEscapingModuleDirectoryIsNotFollowed) {
  MakeCanary();
  fs::create_directories(canary_dir_ + "/kernel");
  fs::rename(tree_ + "/usr/lib/modules/6.1.0-test", tree_ + "/usr/lib/modules/moved");
  fs::create_symlink(canary_dir_, tree_ + "/usr/lib/modules/6.1.0-test");
  auto plan = PlanInitramfs(Spec());
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().message(), "the tree has no modules for kernel 6.1.0-test");
  fs::remove(canary_dir_ + "/kernel");
  ExpectCanaryIntactAndUnread(nullptr);
}

TEST_F(InitramfsPlanTest, ACraftedDtNeededCannotNameAHostFile) {
  // A dynamically linked tool the planner takes from the tree (resize2fs), whose DT_NEEDED
  // "libc.so.6" becomes "../../c.6": same length, so the ELF stays well-formed.
  auto bytes = ReadFileToString("/usr/bin/true");
  ASSERT_TRUE(bytes) << bytes.error().message();
  size_t at = bytes->find(std::string("libc.so.6\0", 10));
  ASSERT_NE(at, std::string::npos) << "/usr/bin/true names no libc.so.6";
  bytes->replace(at, 9, "../../c.6");
  fs::create_directories(tree_ + "/usr/sbin");
  ASSERT_TRUE(WriteFileAtomic(tree_ + "/usr/sbin/resize2fs", *bytes, 0755));
  auto plan = PlanInitramfs(Spec());
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().message(),
            tree_ +
                "/usr/sbin/resize2fs: DT_NEEDED: '../../c.6' is not a plain file name "
                "(empty, '.', '..' or holding '/')");
}

TEST_F(InitramfsPlanTest, AHostileKernelVersionIsRefused) {
  InitramfsSpec spec = Spec();
  for (const char* v : {"../../../tmp", "a/b", ".."}) {
    spec.kernel_version = v;
    auto plan = PlanInitramfs(spec);
    ASSERT_FALSE(plan) << v;
    EXPECT_EQ(plan.error().kind(), ErrorKind::kInvalidInput) << plan.error().message();
  }
}

TEST(InitramfsStage, NothingIsWrittenOutsideTheOutputDirectory) {
  char tmpl[] = "/tmp/basalt-initramfs-stage-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string base = tmpl;
  const std::string out = base + "/out";
  fs::create_directories(base + "/outside");
  for (const char* bad : {"../escape", "lib/../../escape", "lib/../escape"}) {
    std::vector<InitramfsEntry> plan = {
        {InitramfsEntry::Kind::kDirectory, "lib", "", "", 0755},
        {InitramfsEntry::Kind::kFile, bad, "", "attacker", 0644},
    };
    auto s = StageInitramfs(plan, out);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().kind(), ErrorKind::kInvalidInput) << s.error().message();
    fs::remove_all(out);
  }
  // A link the plan itself made earlier is not followed by a later entry.
  std::vector<InitramfsEntry> plan = {
      {InitramfsEntry::Kind::kSymlink, "lib", "", base + "/outside", 0777},
      {InitramfsEntry::Kind::kFile, "lib/x", "", "attacker", 0644},
  };
  auto s = StageInitramfs(plan, out);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("a symlink is in the way"), std::string::npos)
      << s.error().message();
  EXPECT_TRUE(fs::is_empty(base + "/outside"));
  std::vector<std::string> around;
  for (const auto& e : fs::directory_iterator(base))
    around.push_back(e.path().filename().string());
  std::sort(around.begin(), around.end());
  EXPECT_EQ(around, (std::vector<std::string>{"out", "outside"}));
  fs::remove_all(base);
}

}  // namespace
}  // namespace basalt::boot
