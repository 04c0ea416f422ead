// `basalt verity` against the real `veritysetup`, both ways, over edge-case and randomised
// geometries: each tool must accept the other's trees, produce the same root hash and the same
// bytes, and both must reject a corrupted copy.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "common/hex.h"
#include "unit/verity_test_util.h"

namespace basalt::verity {
namespace {

using testing::PatchByte;
using testing::RandomBytes;
using testing::ReadBytes;
using testing::TempDir;
using testing::WriteBytes;

struct CmdResult {
  int rc = -1;
  std::string out;
  std::string err;
};

CmdResult Sh(const std::string& cmd, const TempDir& dir) {
  std::string out = dir / "stdout", err = dir / "stderr";
  int status = std::system((cmd + " >" + out + " 2>" + err).c_str());
  CmdResult r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  auto o = ReadBytes(out), e = ReadBytes(err);
  r.out.assign(o.begin(), o.end());
  r.err.assign(e.begin(), e.end());
  return r;
}

std::string Basalt() {
  const char* dir = std::getenv("BASALT_BIN_DIR");
  return std::string(dir ? dir : ".") + "/basalt";
}

bool HaveVeritysetup() {
  return std::system("command -v veritysetup >/dev/null 2>&1") == 0;
}

std::string RootFromVeritysetup(const std::string& out) {
  auto at = out.find("Root hash:");
  if (at == std::string::npos) return "";
  std::string rest = out.substr(at + 10);
  size_t b = rest.find_first_not_of(" \t");
  size_t e = rest.find_first_of(" \t\n", b);
  return rest.substr(b, e - b);
}

struct Geometry {
  std::string name;
  uint64_t blocks;
  std::string hash;
  uint32_t dbs, hbs;
  size_t salt_size;
  bool superblock;
  bool appended;  // tree inside the data file (Flatcar layout)
};

std::string ParamFlags(const Geometry& g, const std::string& salt_hex) {
  return fmt::format(" --hash={} --data-block-size={} --hash-block-size={} --salt={}", g.hash,
                     g.dbs, g.hbs, salt_hex.empty() ? "-" : salt_hex);
}

void CheckInterop(const Geometry& g, uint64_t seed) {
  SCOPED_TRACE(fmt::format("{}: {} blocks, {} {}/{}, salt {}, superblock {}, appended {}", g.name,
                           g.blocks, g.hash, g.dbs, g.hbs, g.salt_size, g.superblock, g.appended));
  TempDir dir;
  const uint64_t data_bytes = g.blocks * g.dbs;
  auto data = RandomBytes(data_bytes, seed);
  const std::string salt = ToHex(RandomBytes(g.salt_size, seed + 1));
  const std::string uuid = "0c7f2b4e-9d1a-4e55-8a3b-6f0e1d2c3b4a";
  const std::string ours = dir / "ours", theirs = dir / "theirs";
  std::string data_ours = dir / "data-ours", data_theirs = dir / "data-theirs";
  WriteBytes(data_ours, data);
  WriteBytes(data_theirs, data);
  const std::string params = ParamFlags(g, salt);
  const std::string sb = g.superblock ? " --uuid=" + uuid : " --no-superblock";
  const std::string blocks = fmt::format(" --data-blocks={}", g.blocks);

  // Where each tool's tree goes, and how to point the other tool at it.
  std::string our_target, their_target, hash_ours_for_vs, hash_theirs_for_us, hash_ours_for_us;
  if (g.appended) {
    const std::string off = fmt::format(" --hash-offset={}", data_bytes);
    our_target = off;
    their_target = data_theirs + off;
    hash_ours_for_vs = data_ours + off;
    hash_theirs_for_us = off;
    hash_ours_for_us = off;
  } else {
    our_target = " --hash-file=" + ours;
    their_target = theirs;
    hash_ours_for_vs = ours;
    hash_theirs_for_us = " --hash-file=" + theirs;
    hash_ours_for_us = " --hash-file=" + ours;
  }

  CmdResult b =
      Sh(Basalt() + " verity format " + data_ours + our_target + params + sb + blocks, dir);
  ASSERT_EQ(b.rc, 0) << b.err;
  const std::string root = b.out.substr(0, b.out.find('\n'));
  CmdResult v = Sh("veritysetup format " + data_ours.substr(0, 0) + data_theirs + " " +
                       their_target + params + sb + blocks,
                   dir);
  ASSERT_EQ(v.rc, 0) << v.err;
  EXPECT_EQ(root, RootFromVeritysetup(v.out));
  // Same parameters, same salt and UUID: the hash areas must be byte-identical.
  EXPECT_TRUE(ReadBytes(g.appended ? data_ours : ours) ==
              ReadBytes(g.appended ? data_theirs : theirs));

  // Their verifier accepts our tree; ours accepts theirs. Without a superblock both need the
  // parameters again.
  const std::string vs_extra = g.superblock ? "" : params + " --no-superblock" + blocks;
  CmdResult vv =
      Sh("veritysetup verify " + data_ours + " " + hash_ours_for_vs + " " + root + vs_extra, dir);
  EXPECT_EQ(vv.rc, 0) << vv.err;
  const std::string our_extra = g.superblock ? "" : params + " --no-superblock" + blocks;
  CmdResult bv = Sh(Basalt() + " verity verify " + data_theirs + hash_theirs_for_us +
                        " --root-hash=" + root + our_extra,
                    dir);
  EXPECT_EQ(bv.rc, 0) << bv.err;

  // One flipped bit in a random data block: both verifiers refuse, and ours names the block.
  std::mt19937_64 rng(seed + 2);
  const uint64_t bad_block = rng() % g.blocks;
  PatchByte(data_ours, bad_block * g.dbs + rng() % g.dbs, 0x04);
  PatchByte(data_theirs, bad_block * g.dbs + rng() % g.dbs, 0x20);
  vv = Sh("veritysetup verify " + data_ours + " " + hash_ours_for_vs + " " + root + vs_extra, dir);
  EXPECT_NE(vv.rc, 0);
  bv = Sh(Basalt() + " verity verify " + data_theirs + hash_theirs_for_us + " --root-hash=" + root +
              our_extra,
          dir);
  EXPECT_EQ(bv.rc, 4) << bv.err;
  if (g.blocks == 1) {
    EXPECT_NE(bv.err.find("data block 0"), std::string::npos) << bv.err;
  } else {
    EXPECT_NE(bv.err.find(fmt::format("data block {} ", bad_block)), std::string::npos) << bv.err;
  }
}

class VerityInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveVeritysetup()) GTEST_SKIP() << "veritysetup (cryptsetup-bin) is not installed";
  }
};

TEST_F(VerityInterop, EdgeGeometries) {
  const Geometry cases[] = {
      {"one block", 1, "sha256", 4096, 4096, 32, true, false},
      {"exactly 128", 128, "sha256", 4096, 4096, 32, true, false},
      {"exactly 128^2", 128 * 128, "sha256", 4096, 4096, 32, true, true},
      {"128^2 + 1", 128 * 128 + 1, "sha256", 4096, 4096, 32, true, false},
      {"data not a multiple of the hash block", 1001, "sha256", 512, 4096, 32, true, false},
      {"no salt", 300, "sha256", 4096, 4096, 0, true, false},
      {"256-byte salt", 300, "sha256", 4096, 4096, 256, true, false},
      {"sha1", 700, "sha1", 1024, 1024, 32, true, false},
      {"sha512", 700, "sha512", 512, 512, 32, true, false},
      {"no superblock", 200, "sha256", 4096, 4096, 32, false, false},
      {"no superblock, appended", 200, "sha512", 1024, 4096, 256, false, true},
      {"flatcar layout", 2000, "sha256", 4096, 4096, 32, true, true},
  };
  uint64_t seed = 1;
  for (const auto& g : cases)
    CheckInterop(g, seed++);
}

TEST_F(VerityInterop, RandomGeometries) {
  std::random_device rd;
  uint64_t seed = rd();
  if (const char* s = std::getenv("BASALT_VERITY_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::cout << "BASALT_VERITY_SEED=" << seed << " reproduces this run\n";
  RecordProperty("BASALT_VERITY_SEED", std::to_string(seed));
  std::mt19937_64 rng(seed);
  const char* hashes[] = {"sha1", "sha256", "sha512"};
  const uint32_t sizes[] = {512, 1024, 4096};
  const size_t salts[] = {0, 32, 256, 1, 77};
  for (int i = 0; i < 10; ++i) {
    Geometry g;
    g.name = fmt::format("random #{}", i);
    g.hash = hashes[rng() % 3];
    g.dbs = sizes[rng() % 3];
    g.hbs = sizes[rng() % 3];
    g.salt_size = salts[rng() % 5];
    g.superblock = rng() % 4 != 0;
    g.appended = rng() % 3 == 0;
    // Up to 4 MiB of data, weighted towards small counts where level boundaries are.
    const uint64_t max_blocks = (4u << 20) / g.dbs;
    g.blocks = 1 + (rng() % 2 ? rng() % 300 : rng() % max_blocks);
    if (!g.superblock && g.appended && g.hbs > g.dbs) {
      // Without a superblock the tree must start on a hash block boundary; see
      // NoSuperblockOffsetMustBeAligned for what veritysetup does otherwise.
      const uint64_t per = g.hbs / g.dbs;
      g.blocks = (g.blocks + per - 1) / per * per;
    }
    CheckInterop(g, rng());
  }
}

TEST_F(VerityInterop, NoSuperblockOffsetMustBeAligned) {
  // veritysetup rounds an unaligned --hash-offset down to a hash block without a superblock and
  // so overwrites the end of the data with the tree. We refuse instead, and leave the data alone.
  TempDir dir;
  auto data = RandomBytes(3 * 1024, 9);
  WriteBytes(dir / "data", data);
  CmdResult r = Sh(Basalt() + " verity format " + (dir / "data") +
                       " --no-superblock --salt - --data-block-size 1024 --hash-block-size 4096",
                   dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("not a multiple of the hash block size"), std::string::npos) << r.err;
  EXPECT_EQ(ReadBytes(dir / "data"), data);
}

TEST_F(VerityInterop, DumpMatchesVeritysetupDump) {
  TempDir dir;
  WriteBytes(dir / "data", RandomBytes(77 * 4096, 5));
  CmdResult b = Sh(Basalt() + " verity format " + (dir / "data") + " --hash-file " +
                       (dir / "hash") + " --seed release-1.2.3 --hash sha512",
                   dir);
  ASSERT_EQ(b.rc, 0) << b.err;
  CmdResult ours = Sh(Basalt() + " verity dump " + (dir / "hash"), dir);
  CmdResult theirs = Sh("veritysetup dump " + (dir / "hash"), dir);
  ASSERT_EQ(ours.rc, 0) << ours.err;
  ASSERT_EQ(theirs.rc, 0) << theirs.err;
  for (const char* field : {"UUID:", "Hash type:", "Data blocks:", "Data block size:",
                            "Hash blocks:", "Hash block size:", "Hash algorithm:", "Salt:"}) {
    auto line = [&](const std::string& text) {
      auto at = text.find(field);
      return at == std::string::npos ? std::string("<missing>")
                                     : text.substr(at, text.find('\n', at) - at);
    };
    EXPECT_EQ(line(ours.out), line(theirs.out)) << field;
  }
}

TEST_F(VerityInterop, CliReportsBadInputWithExitCodes) {
  TempDir dir;
  WriteBytes(dir / "odd", RandomBytes(4096 * 3 + 1, 1));
  WriteBytes(dir / "data", RandomBytes(4096 * 3, 1));
  WriteBytes(dir / "garbage", RandomBytes(8192, 2));
  const std::string b = Basalt() + " verity ";
  CmdResult r = Sh(b + "format " + (dir / "odd") + " --hash-file " + (dir / "h"), dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("not a multiple of the data block size"), std::string::npos) << r.err;
  r = Sh(b + "format " + (dir / "data") + " --hash-file " + (dir / "h") + " --data-block-size 3000",
         dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("power of two"), std::string::npos) << r.err;
  r = Sh(b + "format " + (dir / "data") + " --hash-offset 4096", dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("overlaps the data"), std::string::npos) << r.err;
  r = Sh(b + "format " + (dir / "data") + " --hash-file " + (dir / "h") + " --salt " +
             std::string(514, 'a'),
         dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("at most 256"), std::string::npos) << r.err;
  r = Sh(b + "format " + (dir / "data") + " --salt 00 --seed x", dir);
  EXPECT_EQ(r.rc, 2);
  r = Sh(b + "verify " + (dir / "data") + " --hash-file " + (dir / "garbage") + " --root-hash " +
             std::string(64, '0'),
         dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("no verity superblock"), std::string::npos) << r.err;
  r = Sh(b + "dump " + (dir / "garbage"), dir);
  EXPECT_EQ(r.rc, 3);
  r = Sh(b + "format " + (dir / "data") + " --hash-file " + (dir / "h") + " --json --seed s", dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"root_hash", "salt", "hash_offset", "data_blocks", "data_block_size",
                          "hash_block_size", "hash_algorithm", "uuid"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["salt"], ToHex(SaltFromSeed("s")));
  EXPECT_EQ(j["uuid"], FormatUuid(UuidFromSeed("s")));
  // Truncate the hash file: verify reports a truncated hash area, not a crash or a mismatch.
  std::filesystem::resize_file(dir / "h", 4096);
  r = Sh(b + "verify " + (dir / "data") + " --hash-file " + (dir / "h") + " --root-hash " +
             j["root_hash"].get<std::string>(),
         dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace basalt::verity
