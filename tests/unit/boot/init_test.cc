#include <gtest/gtest.h>

#include <algorithm>

#include "cmdline.h"
#include "init/modules_dep.h"

namespace basalt::init {
namespace {

constexpr char kHash[] = "3f2a5c1d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29";

TEST(InitCmdline, BasaltSpelling) {
  auto c = ParseInitCmdline(fmt::format(
      "BOOT_IMAGE=/basalt/A/vmlinuz basalt.usr=PARTUUID=7130c94a-213a-4e5a-8e26-6cce9662f132 "
      "basalt.usrhash={} console=ttyS0 quiet basalt.verity=eio root=PARTLABEL=ROOT "
      "init=/usr/lib/systemd/systemd basalt.emergency=shell\n",
      kHash));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->usr, "PARTUUID=7130c94a-213a-4e5a-8e26-6cce9662f132");
  EXPECT_EQ(c->usrhash, kHash);
  EXPECT_EQ(c->verity, VerityErrorMode::kEio);
  EXPECT_EQ(c->root, "PARTLABEL=ROOT");
  EXPECT_EQ(c->init, "/usr/lib/systemd/systemd");
  EXPECT_EQ(c->on_failure, FailurePolicy::kShell);
  EXPECT_FALSE(c->usr_hash_offset);
  // GUIDs are matched in lower case, as libblkid reports them.
  auto upper = ParseInitCmdline(fmt::format(
      "basalt.usr=PARTUUID=66666666-7777-8888-9999-AAAAAAAAAAAA basalt.usrhash={}", kHash));
  ASSERT_TRUE(upper);
  EXPECT_EQ(upper->usr, "PARTUUID=66666666-7777-8888-9999-aaaaaaaaaaaa");
}

TEST(InitCmdline, SystemdSpellingAndDefaults) {
  auto c = ParseInitCmdline(
      fmt::format("mount.usr=PARTLABEL=USR-B usrhash={} mount.usrfstype=erofs", kHash));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->usr, "PARTLABEL=USR-B");
  EXPECT_EQ(c->usrhash, kHash);
  EXPECT_EQ(c->root, "PARTLABEL=ROOT");
  EXPECT_EQ(c->init, "/sbin/init");
  EXPECT_EQ(c->verity, VerityErrorMode::kRestart);
  EXPECT_EQ(c->on_failure, FailurePolicy::kReboot);
  EXPECT_TRUE(c->grow_root);
}

TEST(InitCmdline, QuotesAndOffset) {
  auto words = SplitCmdline("a=\"x y\"  b=1\t c");
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words[0], "a=x y");
  auto c = ParseInitCmdline(
      fmt::format("basalt.usr=/dev/vda3 basalt.usrhash={} basalt.usrhashoffset=8192", kHash));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->usr_hash_offset, 8192u);
}

void ExpectError(const std::string& cmdline, std::string_view why) {
  auto c = ParseInitCmdline(cmdline);
  ASSERT_FALSE(c) << cmdline;
  EXPECT_NE(c.error().message().find(why), std::string::npos) << c.error().message();
}

TEST(InitCmdline, RejectsWhatWouldBootTheWrongThing) {
  ExpectError(fmt::format("usrhash={}", kHash), "no basalt.usr=");
  ExpectError("basalt.usr=PARTLABEL=USR-A", "refusing to mount /usr without dm-verity");
  ExpectError("basalt.usr=PARTLABEL=USR-A basalt.usrhash=xyz", "not a hex root hash");
  ExpectError(fmt::format("basalt.usr=sda3 basalt.usrhash={}", kHash), "expected PARTUUID=");
  ExpectError(fmt::format("basalt.usr=/dev/vda3 basalt.usrhash={} basalt.verity=ignore", kHash),
              "expected panic, restart or eio");
  ExpectError(fmt::format("basalt.usr=/dev/vda3 basalt.usrhash={} basalt.usrhsah=1", kHash),
              "unknown option basalt.usrhsah");
  ExpectError(fmt::format("basalt.usr=/dev/vda3 basalt.usrhash={} init=sbin/init", kHash),
              "absolute path");
  ExpectError(fmt::format("basalt.usr=/dev/vda3 basalt.usrhash={} basalt.usrhashoffset=100", kHash),
              "multiple of 4096");
}

// The shape depmod writes for Debian's cloud kernel (paths shortened).
constexpr char kModulesDep[] =
    "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko "
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/virtio/virtio_ring.ko:\n"
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko:\n"
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko:\n"
    "kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/lib/reed_solomon/"
    "reed_solomon.ko kernel/drivers/md/dm-mod.ko\n"
    "kernel/drivers/md/dm-bufio.ko:\n"
    "kernel/drivers/md/dm-mod.ko:\n"
    "kernel/lib/reed_solomon/reed_solomon.ko:\n"
    "kernel/fs/erofs/erofs.ko.xz: kernel/lib/libcrc32c.ko.xz\n"
    "kernel/lib/libcrc32c.ko.xz:\n";

size_t IndexOf(const std::vector<std::string>& v, const std::string& path) {
  auto it = std::find(v.begin(), v.end(), path);
  EXPECT_NE(it, v.end()) << path;
  return static_cast<size_t>(it - v.begin());
}

TEST(ModulesDep, DependenciesFirstEachOnce) {
  auto graph = ParseModulesDep(kModulesDep);
  ASSERT_TRUE(graph) << graph.error().message();
  EXPECT_EQ(graph->size(), 12u);
  EXPECT_TRUE(graph->count("dm_verity"));
  auto plan = PlanModuleLoad(*graph, {"virtio_blk", "virtio_pci", "dm-verity", "erofs", "ext4"});
  ASSERT_TRUE(plan) << plan.error().message();
  const auto& p = plan->paths;
  EXPECT_EQ(p.size(), 12u);  // everything but nothing twice
  auto at = [&](const char* m) { return IndexOf(p, m); };
  EXPECT_LT(at("kernel/drivers/virtio/virtio_ring.ko"), at("kernel/drivers/virtio/virtio.ko"));
  EXPECT_LT(at("kernel/drivers/virtio/virtio.ko"), at("kernel/drivers/block/virtio_blk.ko"));
  EXPECT_LT(at("kernel/drivers/virtio/virtio_pci_modern_dev.ko"),
            at("kernel/drivers/virtio/virtio_pci.ko"));
  EXPECT_LT(at("kernel/drivers/md/dm-mod.ko"), at("kernel/drivers/md/dm-verity.ko"));
  EXPECT_LT(at("kernel/drivers/md/dm-bufio.ko"), at("kernel/drivers/md/dm-verity.ko"));
  EXPECT_LT(at("kernel/lib/libcrc32c.ko.xz"), at("kernel/fs/erofs/erofs.ko.xz"));
  EXPECT_EQ(plan->missing, std::vector<std::string>{"ext4"});  // built into the cloud kernel
}

TEST(ModulesDep, RejectsCyclesAndDanglingDeps) {
  auto cyc = ParseModulesDep("a.ko: b.ko\nb.ko: a.ko\n");
  ASSERT_TRUE(cyc);
  auto plan = PlanModuleLoad(*cyc, {"a"});
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().message().find("cycle"), std::string::npos);
  auto dangling = ParseModulesDep("a.ko: zz.ko\n");
  ASSERT_TRUE(dangling);
  auto p2 = PlanModuleLoad(*dangling, {"a"});
  ASSERT_FALSE(p2);
  EXPECT_NE(p2.error().message().find("a needs zz"), std::string::npos);
  EXPECT_FALSE(ParseModulesDep("no colon here\n"));
  EXPECT_FALSE(ParseModulesDep("a.ko:\na.ko:\n"));
  EXPECT_EQ(ModuleName("kernel/drivers/md/dm-verity.ko.zst"), "dm_verity");
}

TEST(ModulesDep, PathsAreRelativeAndStayBelowTheModuleDirectory) {
  auto ok = ParseModulesDep("./kernel//md/dm-mod.ko:\n");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->at("dm_mod").path, "kernel/md/dm-mod.ko");
  const struct {
    const char* text;
    const char* message;
  } bad[] = {
      {"../../../../../host/dm-mod.ko:\n",
       "modules.dep line 1: path '../../../../../host/dm-mod.ko' climbs out with '..'"},
      {"a.ko:\n/etc/shadow.ko:\n",
       "modules.dep line 2: path '/etc/shadow.ko' is absolute; only relative paths are allowed "
       "here"},
      {"a.ko: ../b.ko\n", "modules.dep line 1: path '../b.ko' climbs out with '..'"},
  };
  for (const auto& b : bad) {
    auto r = ParseModulesDep(b.text);
    ASSERT_FALSE(r) << b.text;
    EXPECT_EQ(r.error().message(), b.message);
  }
}

}  // namespace
}  // namespace basalt::init
