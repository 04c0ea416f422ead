// `basalt verity` on real block devices (loop devices over a file): BLKGETSIZE64 sizing, the
// Flatcar layout inside one device, veritysetup accepting the result, and `open`/`close` through
// libcryptsetup where device-mapper exists (elsewhere: a clean error, not a crash).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
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

TEST(VerityBlockDevice, FlatcarLayoutOnALoopDevice) {
  if (::geteuid() != 0) GTEST_SKIP() << "loop devices need root (CI runs as root)";
  if (std::system("command -v losetup >/dev/null && command -v veritysetup >/dev/null") != 0) {
    GTEST_SKIP() << "losetup or veritysetup is not installed";
  }
  TempDir dir;
  // A 6 MiB "partition": 4 MiB of data, then room for the tree.
  auto image = RandomBytes(6 << 20, 17);
  WriteBytes(dir / "part.img", image);
  LoopDevice loop(dir / "part.img", dir);
  if (loop.path().empty()) GTEST_SKIP() << "no loop device available: " << loop.error();
  const std::string dev = loop.path();
  const std::string b = Basalt() + " verity ";

  // Without --data-blocks the whole device would be data, and the tree cannot fit after it.
  CmdResult r = Sh(b + "format " + dev + " --seed part", dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("too small for the hash area"), std::string::npos) << r.err;

  r = Sh(b + "format " + dev + " --data-blocks 1024 --seed part", dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string root = r.out;
  const std::string off = " --hash-offset 4194304";
  CmdResult v = Sh("veritysetup verify " + dev + " " + dev + off + " " + root, dir);
  EXPECT_EQ(v.rc, 0) << v.err;
  r = Sh(b + "verify " + dev + off + " --root-hash " + root, dir);
  EXPECT_EQ(r.rc, 0) << r.err;
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

  // dm-verity activation, where the kernel offers device-mapper.
  // libdevmapper creates /dev/mapper/control on demand, so ask the kernel driver itself.
  const bool have_dm = std::system("dmsetup version >/dev/null 2>&1") == 0;
  const std::string name = "basalt-test-" + std::to_string(::getpid());
  r = Sh(b + "open " + name + " " + dev + off + " --root-hash " + root, dir);
  if (!have_dm) {
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.err.find("basalt: error: verity open " + name), std::string::npos) << r.err;
    return;
  }
  ASSERT_EQ(r.rc, 0) << r.err;
  auto mapped = ReadBytes("/dev/mapper/" + name);
  EXPECT_EQ(mapped.size(), 4u << 20);
  EXPECT_TRUE(std::equal(mapped.begin(), mapped.end(), image.begin()));
  r = Sh(b + "close " + name, dir);
  EXPECT_EQ(r.rc, 0) << r.err;
  // A wrong root hash is refused by the kernel.
  std::string wrong = root;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  r = Sh(b + "open " + name + " " + dev + off + " --root-hash " + wrong, dir);
  EXPECT_NE(r.rc, 0);
  Sh(b + "close " + name, dir);
}

}  // namespace
}  // namespace basalt::verity
