// `basalt verity` on real block devices (loop devices over a file): BLKGETSIZE64 sizing, the
// Flatcar layout inside one device, veritysetup accepting the result, and `open`/`close` through
// libcryptsetup where the kernel has device-mapper. Where it has none (this sandbox's kernel and
// CI's), `open` must fail with a clear error; the real open/close then runs inside a QEMU guest:
// tests/vm/verity_vm_test.sh (ctest boot_vm_verity).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "unit/verity_test_util.h"

namespace basalt::verity {
namespace {

using testing::RandomBytes;
using testing::ReadBytes;
using testing::TempDir;
using testing::WriteBytes;

struct CmdResult {
  int rc = -1;
  std::string out, err;
};

CmdResult Sh(const std::string& cmd, const TempDir& dir) {
  std::string out = dir / "stdout", err = dir / "stderr";
  int status = std::system((cmd + " >" + out + " 2>" + err).c_str());
  CmdResult r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  auto o = ReadBytes(out), e = ReadBytes(err);
  r.out.assign(o.begin(), o.end());
  r.err.assign(e.begin(), e.end());
  while (!r.out.empty() && r.out.back() == '\n')
    r.out.pop_back();
  return r;
}

std::string Basalt() {
  const char* dir = std::getenv("BASALT_BIN_DIR");
  return std::string(dir ? dir : ".") + "/basalt";
}

// A loop device over a file, detached on destruction.
class LoopDevice {
 public:
  LoopDevice(const std::string& file, const TempDir& dir) {
    CmdResult r = Sh("losetup --find --show " + file, dir);
    if (r.rc == 0) path_ = r.out;
    error_ = r.err;
  }
  ~LoopDevice() {
    if (!path_.empty()) std::system(("losetup -d " + path_ + " 2>/dev/null").c_str());
  }
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_, error_;
};

// A 6 MiB "partition" on a loop device: 4 MiB of data, then room for the tree. Skips when loop
// devices cannot be had (not root, no losetup/veritysetup).
class VerityBlockDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "loop devices need root (CI runs as root)";
    if (std::system("command -v losetup >/dev/null && command -v veritysetup >/dev/null") != 0) {
      GTEST_SKIP() << "losetup or veritysetup is not installed";
    }
    image_ = RandomBytes(6 << 20, 17);
    WriteBytes(dir_ / "part.img", image_);
    loop_ = std::make_unique<LoopDevice>(dir_ / "part.img", dir_);
    if (loop_->path().empty()) GTEST_SKIP() << "no loop device available: " << loop_->error();
    dev_ = loop_->path();
  }

  // Formats the device with 1024 data blocks; the root hash.
  std::string Format() {
    CmdResult r = Sh(b_ + "format " + dev_ + " --data-blocks 1024 --seed part", dir_);
    EXPECT_EQ(r.rc, 0) << r.err;
    return r.out;
  }

  TempDir dir_;
  std::vector<uint8_t> image_;
  std::unique_ptr<LoopDevice> loop_;
  std::string dev_;
  const std::string b_ = Basalt() + " verity ";
  const std::string off_ = " --hash-offset 4194304";
};

TEST_F(VerityBlockDevice, FlatcarLayoutOnALoopDevice) {
  const std::string& dev = dev_;
  const std::string& b = b_;
  const std::string& off = off_;
  TempDir& dir = dir_;

  // Without --data-blocks the whole device would be data, and the tree cannot fit after it.
  CmdResult r = Sh(b + "format " + dev + " --seed part", dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("too small for the hash area"), std::string::npos) << r.err;

  const std::string root = Format();
  ASSERT_FALSE(root.empty());
  CmdResult v = Sh("veritysetup verify " + dev + " " + dev + off + " " + root, dir);
  EXPECT_EQ(v.rc, 0) << v.err;
  r = Sh(b + "verify " + dev + off + " --root-hash " + root, dir);
  EXPECT_EQ(r.rc, 0) << r.err;
  // veritysetup's own argument order works unchanged: DATA HASH_DEVICE ROOT_HASH.
  r = Sh(b + "verify " + dev + " " + dev + off + " " + root, dir);
  EXPECT_EQ(r.rc, 0) << r.err;
  r = Sh(
      b + "verify " + dev + " " + dev + off + " " + root + " --root-hash " + std::string(64, '0'),
      dir);
  EXPECT_EQ(r.rc, 2) << r.err;  // two different root hashes: a usage error, one line
  EXPECT_EQ(r.err, "basalt: error: ROOT_HASH and --root-hash differ\n");
  r = Sh(b + "verify " + dev + " " + dev + off, dir);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("HASH_DEVICE needs ROOT_HASH"), std::string::npos) << r.err;
  r = Sh(b + "dump " + dev + off + " --json", dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["data_blocks"], 1024);
  EXPECT_EQ(j["uuid"], FormatUuid(UuidFromSeed("part")));

  // Corruption on the device (read with pread, not mapped) is found and named; then undone.
  testing::PatchByte(dev, 777 * 4096 + 5, 0x01);
  r = Sh(b + "verify " + dev + off + " --root-hash " + root, dir);
  EXPECT_EQ(r.rc, 4);
  EXPECT_NE(r.err.find("data block 777 "), std::string::npos) << r.err;
  testing::PatchByte(dev, 777 * 4096 + 5, 0x01);
  r = Sh(b + "verify " + dev + off + " --root-hash " + root, dir);
  EXPECT_EQ(r.rc, 0) << r.err;
}

// dm-verity activation through libcryptsetup on this kernel. libdevmapper creates
// /dev/mapper/control on demand, so ask the kernel driver itself whether device-mapper exists.
TEST_F(VerityBlockDevice, OpenAndCloseOnThisKernel) {
  const std::string root = Format();
  ASSERT_FALSE(root.empty());
  const std::string name = "basalt-test-" + std::to_string(::getpid());
  const bool have_dm = std::system("dmsetup version >/dev/null 2>&1") == 0;
  CmdResult r = Sh(b_ + "open " + dev_ + " " + name + off_ + " --root-hash " + root, dir_);
  if (!have_dm) {
    // No device-mapper here: a clear error naming what failed, not a crash. The real
    // open/close runs in a VM (boot_vm_verity); say so in the log rather than pass silently.
    EXPECT_EQ(r.rc, 7) << r.err;  // unsupported (docs/cli.md), not a crash
    EXPECT_NE(r.err.find("basalt: error: verity open " + name), std::string::npos) << r.err;
    r = Sh(b_ + "close " + name, dir_);
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.err.find("basalt: error: "), std::string::npos) << r.err;
    std::printf(
        "no device-mapper in this kernel: checked that open and close fail cleanly; the real "
        "open/close runs in the VM scenario boot_vm_verity\n");
    return;
  }
  ASSERT_EQ(r.rc, 0) << r.err;
  auto mapped = ReadBytes("/dev/mapper/" + name);
  EXPECT_EQ(mapped.size(), 4u << 20);
  EXPECT_TRUE(std::equal(mapped.begin(), mapped.end(), image_.begin()));
  r = Sh(b_ + "close " + name, dir_);
  EXPECT_EQ(r.rc, 0) << r.err;
  // A wrong root hash: the kernel checks hashes on read, not at activation, so the open maps
  // (as seen in boot_vm_verity) and no block can then be read.
  std::string wrong = root;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  r = Sh(b_ + "open " + dev_ + " " + name + off_ + " --root-hash " + wrong, dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  r = Sh("dd if=/dev/mapper/" + name + " of=/dev/null bs=4096 count=1", dir_);
  EXPECT_NE(r.rc, 0) << "a block was read under a wrong root hash";
  r = Sh(b_ + "close " + name, dir_);
  EXPECT_EQ(r.rc, 0) << r.err;
}

}  // namespace
}  // namespace basalt::verity
