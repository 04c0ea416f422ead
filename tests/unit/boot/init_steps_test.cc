// basalt-init's steps and failure policies against FakeInitSystem: what is mounted where, the
// dm-verity arguments and activation flags, the ROOT grow, the switch to the real root, and
// what happens on failure (emergency shell or reboot). The VM tests (tests/vm/) boot the real
// thing; these run everywhere, under ASan too.
#include "init_steps.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libcryptsetup.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <utility>

#include "common/fd.h"
#include "init_run.h"
#include "test_util.h"
#include "unit/boot/fake_init_system.h"

namespace basalt::init {
namespace {

using basalt::testing::TempDir;

constexpr char kHash[] = "3f2a5c1d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29";
constexpr char kUsrSpec[] = "PARTUUID=7130c94a-213a-4e5a-8e26-6cce9662f132";
constexpr uint64_t kMiB = 1 << 20;

void Le32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; i++)
    b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

// A file of `size` bytes (sparse) with `bytes` written at `offset`.
void WriteAt(const std::string& path, uint64_t size, uint64_t offset,
             const std::vector<uint8_t>& bytes) {
  auto fd = OpenFile(path, O_RDWR | O_CREAT, 0644);
  ASSERT_TRUE(fd) << fd.error().message();
  ASSERT_EQ(::ftruncate(fd->get(), static_cast<off_t>(size)), 0);
  ASSERT_TRUE(PwriteFull(fd->get(), bytes, offset, path));
}

// /usr as basalt-init sees it: an erofs superblock saying blocks << blkszbits bytes, and the
// dm-verity superblock's magic at `verity_at`.
void MakeUsrDevice(const std::string& path, uint8_t blkszbits, uint32_t blocks,
                   uint64_t verity_at) {
  std::vector<uint8_t> sb(128, 0);
  Le32(sb, 0, 0xE0F5E1E2);
  sb[12] = blkszbits;
  Le32(sb, 36, blocks);
  WriteAt(path, verity_at + 4096, 1024, sb);
  WriteAt(path, verity_at + 4096, verity_at, {'v', 'e', 'r', 'i', 't', 'y', 0, 0});
}

// ROOT: an ext4 superblock of `fs_bytes` (4 KiB blocks) in a partition of `part_bytes`.
void MakeRootDevice(const std::string& path, uint64_t fs_bytes, uint64_t part_bytes) {
  std::vector<uint8_t> sb(1024, 0);
  Le32(sb, 0x04, static_cast<uint32_t>(fs_bytes / 4096));
  Le32(sb, 0x18, 2);  // 1024 << 2
  sb[0x38] = 0x53;
  sb[0x39] = 0xEF;
  WriteAt(path, part_bytes, 1024, sb);
}

InitConfig Config(VerityErrorMode mode) {
  auto c = ParseInitCmdline(fmt::format("basalt.usr={} basalt.usrhash={}", kUsrSpec, kHash));
  EXPECT_TRUE(c);
  c->verity = mode;
  return *c;
}

std::vector<uint8_t> HashBytes() {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < sizeof(kHash) - 1; i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(kHash + i, 2), nullptr, 16)));
  return out;
}

// A rig with /usr, ROOT and a readable dm node as files.
struct Rig {
  TempDir dir;
  FakeInitSystem sys;
  std::string usr = dir / "vda3";
  std::string root = dir / "vda9";
  Rig() {
    MakeUsrDevice(usr, 12, 10, 40960);
    MakeRootDevice(root, 40 * kMiB, 40 * kMiB);
    sys.dm_node = dir / "dm-0";
    basalt::testing::WriteFile(sys.dm_node, std::string(8192, 'u'));
    sys.devices[kUsrSpec] = usr;
    sys.devices["PARTLABEL=ROOT"] = root;
    sys.cmdline = fmt::format("basalt.usr={} basalt.usrhash={} console=ttyS0\n", kUsrSpec, kHash);
  }
};

TEST(InitSteps, EarlyFilesystemsAndConsole) {
  FakeInitSystem sys;
  sys.mount_errors["/dev"] = EBUSY;  // the kernel mounted devtmpfs itself: fine
  ASSERT_TRUE(MountEarlyFilesystems(sys));
  ASSERT_EQ(sys.mounts.size(), 4u);
  auto expect = [&](size_t i, const char* source, const char* target, const char* type,
                    unsigned long flags, const char* data) {
    EXPECT_EQ(sys.mounts[i].source, source);
    EXPECT_EQ(sys.mounts[i].target, target);
    EXPECT_EQ(sys.mounts[i].type, type);
    EXPECT_EQ(sys.mounts[i].flags, flags) << target;
    EXPECT_EQ(sys.mounts[i].data, data);
  };
  expect(0, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
  expect(1, "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
  expect(2, "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  expect(3, "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  EXPECT_TRUE(sys.console);

  FakeInitSystem refused;
  refused.mount_errors["/sys"] = EPERM;
  auto st = MountEarlyFilesystems(refused);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(), "mount sysfs on /sys: Operation not permitted");
}

TEST(InitSteps, ModulesFromModulesDepDependenciesFirst) {
  TempDir dir;
  FakeInitSystem sys;
  sys.modules_dir = dir.path();
  EXPECT_EQ(*LoadInitramfsModules(sys), 0);
  EXPECT_TRUE(sys.Logged("modules.dep; relying on built-in drivers"));

  basalt::testing::WriteFile(dir / "modules.dep",
                             "kernel/a.ko: kernel/b.ko.xz\nkernel/b.ko.xz:\nkernel/gone.ko:\n");
  basalt::testing::WriteFile(dir / "kernel/a.ko", "");
  basalt::testing::WriteFile(dir / "kernel/b.ko.xz", "");
  auto loaded = LoadInitramfsModules(sys);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(*loaded, 2);
  // b first (a needs it), decompressed by the kernel (MODULE_INIT_COMPRESSED_FILE).
  EXPECT_EQ(sys.module_flags, (std::vector<int>{4, 0}));
  EXPECT_TRUE(sys.Logged("module kernel/gone.ko: No such file or directory"));
}

TEST(InitSteps, WaitForDevicePollsWithABound) {
  FakeInitSystem sys;
  sys.devices["PARTLABEL=ROOT"] = "/dev/vda9";
  sys.probes_before["PARTLABEL=ROOT"] = 3;
  auto dev = WaitForDevice(sys, "PARTLABEL=ROOT", 15000);
  ASSERT_TRUE(dev);
  EXPECT_EQ(*dev, "/dev/vda9");
  EXPECT_EQ(sys.slept_ms, 300);

  FakeInitSystem never;
  auto none = WaitForDevice(never, "PARTLABEL=ROOT", 15000);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message(), "no device matches PARTLABEL=ROOT after 15 s");
  EXPECT_EQ(never.slept_ms, 15000);
  EXPECT_EQ(never.probes, 151);
}

TEST(InitSteps, GrowPartitionRereadsOnlyWhenItGrew) {
  FakeInitSystem sys;
  sys.grow_gain = 64 * kMiB;
  auto gained = GrowPartitionToDiskEnd(sys, "/dev/vda9");
  ASSERT_TRUE(gained);
  EXPECT_EQ(*gained, 64 * kMiB);
  ASSERT_EQ(sys.grown.size(), 1u);
  EXPECT_EQ(sys.grown[0], std::make_pair(std::string("/dev/vda"), size_t{9}));
  EXPECT_EQ(sys.reread, std::vector<std::string>{"/dev/vda"});

  FakeInitSystem at_end;
  auto none = GrowPartitionToDiskEnd(at_end, "/dev/vda9");
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0u);
  EXPECT_EQ(at_end.grown.size(), 1u);
  EXPECT_TRUE(at_end.reread.empty());
}

TEST(InitSteps, Resize2fsOnlyWhenTheFilesystemIsSmaller) {
  TempDir dir;
  FakeInitSystem sys;
  MakeRootDevice(dir / "grown", 40 * kMiB, 104 * kMiB);
  ASSERT_TRUE(GrowRootFilesystem(sys, dir / "grown"));
  ASSERT_EQ(sys.tools.size(), 1u);
  EXPECT_EQ(sys.tools[0], (std::vector<std::string>{"resize2fs", dir / "grown"}));
  EXPECT_TRUE(sys.Logged("growing ROOT filesystem from 40 to 104 MiB"));

  FakeInitSystem same;
  MakeRootDevice(dir / "same", 40 * kMiB, 40 * kMiB + kMiB / 2);  // less than 1 MiB to gain
  ASSERT_TRUE(GrowRootFilesystem(same, dir / "same"));
  EXPECT_TRUE(same.tools.empty());
}

TEST(InitSteps, VerityHashOffsetIsTheErofsSizeRoundedUp) {
  Rig r;
  const std::string usr = r.dir / "small";
  MakeUsrDevice(usr, 9, 9, 8192);  // 4608 bytes of erofs: the tree starts at 8192
  auto node = OpenVerityUsr(r.sys, usr, Config(VerityErrorMode::kEio));
  ASSERT_TRUE(node) << node.error().message();
  EXPECT_EQ(*node, r.sys.dm_node);
  ASSERT_EQ(r.sys.verity_loads.size(), 1u);
  EXPECT_EQ(r.sys.verity_loads[0], std::make_pair(usr, uint64_t{8192}));
}

TEST(InitSteps, VerityHashOffsetFromTheCommandLine) {
  Rig r;
  std::string bare = r.dir / "bare";  // no erofs superblock: the offset must not be looked up
  WriteAt(bare, 3 * 4096, 8192, {'v', 'e', 'r', 'i', 't', 'y', 0, 0});
  InitConfig c = Config(VerityErrorMode::kEio);
  c.usr_hash_offset = 8192;
  auto node = OpenVerityUsr(r.sys, bare, c);
  ASSERT_TRUE(node) << node.error().message();
  EXPECT_EQ(r.sys.verity_loads.at(0), std::make_pair(bare, uint64_t{8192}));
}

TEST(InitSteps, VerityModesMapOntoActivationFlags) {
  struct Case {
    VerityErrorMode mode;
    uint32_t final_flag;  // 0: the first (EIO) activation stays
  };
  for (Case k : {Case{VerityErrorMode::kEio, 0},
                 Case{VerityErrorMode::kRestart, CRYPT_ACTIVATE_RESTART_ON_CORRUPTION},
                 Case{VerityErrorMode::kPanic, CRYPT_ACTIVATE_PANIC_ON_CORRUPTION}}) {
    SCOPED_TRACE(static_cast<int>(k.mode));
    Rig r;
    auto node = OpenVerityUsr(r.sys, r.usr, Config(k.mode));
    ASSERT_TRUE(node) << node.error().message();
    EXPECT_EQ(r.sys.verity_loads.at(0), std::make_pair(r.usr, uint64_t{40960}));
    const auto& v = r.sys.verity;
    ASSERT_EQ(v.size(), k.final_flag == 0 ? 1u : 3u);
    // First read-only with errors as EIO, so a wrong root hash is reported, not rebooted on.
    EXPECT_EQ(v[0].what, "activate");
    EXPECT_EQ(v[0].name, "usr");
    EXPECT_EQ(v[0].root_hash, HashBytes());
    EXPECT_EQ(v[0].flags, uint32_t{CRYPT_ACTIVATE_READONLY});
    if (k.final_flag != 0) {
      EXPECT_EQ(v[1].what, "deactivate");
      EXPECT_EQ(v[2].what, "activate");
      EXPECT_EQ(v[2].root_hash, HashBytes());
      EXPECT_EQ(v[2].flags, CRYPT_ACTIVATE_READONLY | k.final_flag);
    }
  }
}

TEST(InitSteps, VerityRefusals) {
  Rig r;
  const std::string usr = r.dir / "misplaced";
  MakeUsrDevice(usr, 12, 10, 65536);  // the superblock is not where the erofs ends
  auto no_sb = OpenVerityUsr(r.sys, usr, Config(VerityErrorMode::kRestart));
  ASSERT_FALSE(no_sb);
  EXPECT_EQ(no_sb.error().message(), usr + ": no dm-verity superblock at byte 40960 (end of /usr)");
  EXPECT_TRUE(r.sys.verity_loads.empty());

  Rig wrong_hash;
  basalt::testing::WriteFile(wrong_hash.sys.dm_node, "");  // block 0 reads as an error
  auto rejected = OpenVerityUsr(wrong_hash.sys, wrong_hash.usr, Config(VerityErrorMode::kPanic));
  ASSERT_FALSE(rejected);
  EXPECT_NE(rejected.error().message().find("dm-verity rejects the first block: the root hash " +
                                            std::string(kHash) + " does not match"),
            std::string::npos)
      << rejected.error().message();
  ASSERT_EQ(wrong_hash.sys.verity.size(), 2u);  // never re-activated in panic mode
  EXPECT_EQ(wrong_hash.sys.verity[1].what, "deactivate");
}

TEST(InitSteps, RootReadWriteAndUsrReadOnly) {
  FakeInitSystem sys;
  InitConfig c = Config(VerityErrorMode::kRestart);
  ASSERT_TRUE(MountRootAndUsr(sys, "/dev/vda9", "/dev/mapper/usr", c));
  ASSERT_EQ(sys.mounts.size(), 2u);
  EXPECT_EQ(sys.mounts[0].source, "/dev/vda9");
  EXPECT_EQ(sys.mounts[0].target, "/sysroot");
  EXPECT_EQ(sys.mounts[0].type, "ext4");
  EXPECT_EQ(sys.mounts[0].flags, 0u);
  EXPECT_EQ(sys.mounts[1].source, "/dev/mapper/usr");
  EXPECT_EQ(sys.mounts[1].target, "/sysroot/usr");
  EXPECT_EQ(sys.mounts[1].type, "erofs");
  EXPECT_EQ(sys.mounts[1].flags, static_cast<unsigned long>(MS_RDONLY | MS_NODEV));

  FakeInitSystem eio;
  eio.mount_errors["/sysroot/usr"] = EIO;
  auto st = MountRootAndUsr(eio, "/dev/vda9", "/dev/mapper/usr", c);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(),
            "mount /usr /dev/mapper/usr (erofs, read-only): Input/output error (dm-verity "
            "rejected the data: wrong root hash or corrupted /usr)");
}

TEST(InitSteps, SwitchRootMovesTheApiMountsAndExecsInit) {
  FakeInitSystem sys;
  InitConfig c = Config(VerityErrorMode::kRestart);
  c.init = "/usr/lib/systemd/systemd";
  ASSERT_TRUE(SwitchRootAndExec(sys, c));
  std::vector<std::string> moves;
  for (const auto& m : sys.mounts) {
    EXPECT_EQ(m.flags, static_cast<unsigned long>(MS_MOVE));
    moves.push_back(m.source + ">" + m.target);
  }
  EXPECT_EQ(moves, (std::vector<std::string>{"/dev>/sysroot/dev", "/proc>/sysroot/proc",
                                             "/sys>/sysroot/sys", "/run>/sysroot/run", ".>/"}));
  EXPECT_EQ(sys.dir_changes, (std::vector<std::string>{"/sysroot", "/"}));
  EXPECT_EQ(sys.root_changes, std::vector<std::string>{"."});
  EXPECT_EQ(sys.execs, std::vector<std::vector<std::string>>{{"/usr/lib/systemd/systemd"}});

  // No init= : the init inside the verified /usr, systemd first, then /usr/sbin/init; a
  // symlink (which could lead back out into ROOT) or nothing at all is refused.
  for (const auto& [files, want] : std::vector<std::pair<std::set<std::string>, std::string>>{
           {{"/usr/lib/systemd/systemd", "/usr/sbin/init"}, "/usr/lib/systemd/systemd"},
           {{"/usr/sbin/init"}, "/usr/sbin/init"},
       }) {
    FakeInitSystem d;
    d.init_files = files;
    InitConfig dc = Config(VerityErrorMode::kRestart);
    dc.init.clear();
    ASSERT_TRUE(SwitchRootAndExec(d, dc));
    EXPECT_EQ(d.execs, std::vector<std::vector<std::string>>{{want}});
  }
  FakeInitSystem none;
  none.init_files.clear();
  none.executables = {"/sbin/init", "/usr/sbin/init"};  // e.g. symlinks: not regular files
  InitConfig nc = Config(VerityErrorMode::kRestart);
  nc.init.clear();
  auto no_init = SwitchRootAndExec(none, nc);
  ASSERT_FALSE(no_init);
  EXPECT_NE(no_init.error().message().find("no init inside /usr: neither "
                                           "/usr/lib/systemd/systemd nor /usr/sbin/init"),
            std::string::npos)
      << no_init.error().message();
  EXPECT_TRUE(none.execs.empty());

  FakeInitSystem missing;
  missing.exec_errno = ENOENT;
  auto st = SwitchRootAndExec(missing, c);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(), "exec /usr/lib/systemd/systemd: No such file or directory");
}

TEST(InitRun, MountsTheSlotAndHandsOver) {
  Rig r;
  r.sys.grow_gain = 64 * kMiB;
  std::optional<InitFailure> failure = RunInit(r.sys);
  ASSERT_FALSE(failure) << failure->step << ": " << failure->error.message();
  EXPECT_TRUE(r.sys.Logged("grew ROOT partition by 64 MiB"));
  EXPECT_TRUE(r.sys.Logged(fmt::format("/usr: {} opened through dm-verity as {} (root hash {})",
                                       r.usr, r.sys.dm_node, kHash)));
  EXPECT_EQ(r.sys.probes, 3);  // /usr, ROOT, and ROOT again after it grew
  bool usr_mounted = false;
  for (const auto& m : r.sys.mounts)
    usr_mounted |= m.target == "/sysroot/usr" && m.source == r.sys.dm_node;
  EXPECT_TRUE(usr_mounted);
  EXPECT_TRUE(r.sys.tools.empty());  // ROOT's filesystem already fills its partition
  EXPECT_EQ(r.sys.execs, std::vector<std::vector<std::string>>{{"/usr/lib/systemd/systemd"}});
  EXPECT_TRUE(
      r.sys.Logged("switching root to ROOT (" + r.root + ") and starting the init inside /usr"));
  EXPECT_EQ(r.sys.reboots, 0);

  Rig no_grow;
  no_grow.sys.cmdline += " basalt.grow=0";
  ASSERT_FALSE(RunInit(no_grow.sys));
  EXPECT_TRUE(no_grow.sys.grown.empty());
}

// RunInit's failure, then FailAndStop, as main() does.
FakeInitSystem& FailWith(FakeInitSystem& sys, std::string_view step) {
  std::optional<InitFailure> failure = RunInit(sys);
  EXPECT_TRUE(failure);
  if (!failure) return sys;
  EXPECT_EQ(failure->step, step);
  FailAndStop(sys, *failure);
  return sys;
}

TEST(InitRun, DefaultPolicyRebootsWithOneLine) {
  Rig r;
  r.sys.devices.erase(kUsrSpec);
  r.sys.executables = {"/bin/sh"};
  FailWith(r.sys, "find /usr");
  EXPECT_TRUE(
      r.sys.Logged(fmt::format("FAILED: find /usr: no device matches {} after 15 s", kUsrSpec)));
  EXPECT_TRUE(r.sys.children.empty());
  EXPECT_EQ(r.sys.reboots, 1);

  Rig explicit_reboot;
  explicit_reboot.sys.cmdline += " basalt.emergency=reboot";
  explicit_reboot.sys.executables = {"/bin/sh"};
  explicit_reboot.sys.activate_errno = EINVAL;
  FailWith(explicit_reboot.sys, "open /usr with dm-verity");
  EXPECT_TRUE(explicit_reboot.sys.children.empty());
  EXPECT_EQ(explicit_reboot.sys.reboots, 1);
}

TEST(InitRun, EmergencyShellThenReboot) {
  Rig r;
  r.sys.cmdline += " basalt.emergency=shell";
  r.sys.executables = {"/bin/sh", "/bin/busybox"};
  r.sys.mount_errors["/sysroot/usr"] = EIO;
  FailWith(r.sys, "mount ROOT and /usr");
  EXPECT_EQ(r.sys.children, std::vector<std::vector<std::string>>{{"/bin/sh"}});
  EXPECT_TRUE(r.sys.Logged("basalt.emergency=shell: starting /bin/sh; exit it to reboot"));
  EXPECT_EQ(r.sys.reboots, 1);  // when the shell exits

  Rig busybox;
  busybox.sys.cmdline += " basalt.emergency=shell";
  busybox.sys.executables = {"/bin/busybox"};
  busybox.sys.devices.erase("PARTLABEL=ROOT");
  FailWith(busybox.sys, "find ROOT");
  EXPECT_EQ(busybox.sys.children, (std::vector<std::vector<std::string>>{{"/bin/busybox", "sh"}}));
  EXPECT_EQ(busybox.sys.reboots, 1);

  Rig no_shell;
  no_shell.sys.cmdline += " basalt.emergency=shell";
  no_shell.sys.devices.erase(kUsrSpec);
  FailWith(no_shell.sys, "find /usr");
  EXPECT_TRUE(no_shell.sys.children.empty());
  EXPECT_EQ(no_shell.sys.reboots, 1);
}

TEST(InitRun, PolicyAsFarAsTheCommandLineWasRead) {
  // A strict parse failure still honours basalt.emergency=shell (a typo must be fixable).
  Rig typo;
  typo.sys.cmdline += " basalt.emergency=shell basalt.usrhsah=1";
  typo.sys.executables = {"/bin/sh"};
  FailWith(typo.sys, "parse the kernel command line");
  EXPECT_EQ(typo.sys.children.size(), 1u);
  EXPECT_TRUE(typo.sys.Logged("unknown option basalt.usrhsah"));

  // Once it parsed, the parsed value decides.
  Rig parsed;
  parsed.sys.cmdline += " basalt.emergency=reboot";
  parsed.sys.executables = {"/bin/sh"};
  parsed.sys.devices.erase(kUsrSpec);
  FailWith(parsed.sys, "find /usr");
  EXPECT_TRUE(parsed.sys.children.empty());
  EXPECT_EQ(parsed.sys.reboots, 1);

  // A repeated basalt.emergency= is refused, and the failure is on the safe side: reboot, in
  // either order (a console edit appended to an entry must not open a shell by ambiguity).
  for (const char* twice : {" basalt.emergency=shell basalt.emergency=reboot",
                            " basalt.emergency=reboot basalt.emergency=shell"}) {
    Rig r;
    r.sys.cmdline += twice;
    r.sys.executables = {"/bin/sh"};
    FailWith(r.sys, "parse the kernel command line");
    EXPECT_TRUE(r.sys.Logged("basalt.emergency= appears twice")) << twice;
    EXPECT_TRUE(r.sys.children.empty()) << twice;
    EXPECT_EQ(r.sys.reboots, 1) << twice;
  }

  // Before the command line is read, the policy is reboot whatever it says.
  Rig early;
  early.sys.cmdline += " basalt.emergency=shell";
  early.sys.executables = {"/bin/sh"};
  early.sys.mount_errors["/proc"] = ENODEV;
  FailWith(early.sys, "mount /proc, /sys, /dev");
  EXPECT_TRUE(early.sys.children.empty());
  EXPECT_EQ(early.sys.reboots, 1);
}

}  // namespace
}  // namespace basalt::init
