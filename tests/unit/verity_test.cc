#include "verity/verity.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/hex.h"
#include "unit/verity_test_util.h"

namespace basalt::verity {
namespace {

using testing::BuildReference;
using testing::PatchByte;
using testing::RandomBytes;
using testing::ReadBytes;
using testing::TempDir;
using testing::WriteBytes;

VerityParams Params(uint64_t blocks, HashAlgorithm alg = HashAlgorithm::kSha256,
                    uint32_t dbs = 4096, uint32_t hbs = 4096) {
  VerityParams p;
  p.algorithm = alg;
  p.data_block_size = dbs;
  p.hash_block_size = hbs;
  p.data_blocks = blocks;
  p.salt.assign(32, 0x5a);
  return p;
}

// ---- geometry ----

TEST(VerityGeometry, OneBlockHasNoLevels) {
  auto g = ComputeGeometry(Params(1));
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->levels, 0u);
  EXPECT_EQ(g->tree_blocks, 0u);
  EXPECT_EQ(g->tree_offset, 4096u);  // superblock rounded up to a hash block
  EXPECT_EQ(g->hash_area_size, 4096u);
}

TEST(VerityGeometry, PowersOf128) {
  // 4096-byte hash blocks hold 128 sha256 digests.
  auto g = ComputeGeometry(Params(128));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->hashes_per_block, 128u);
  EXPECT_EQ(g->levels, 1u);
  EXPECT_EQ(g->tree_blocks, 1u);

  g = ComputeGeometry(Params(128 * 128));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->levels, 2u);
  EXPECT_EQ(g->level_blocks, (std::vector<uint64_t>{128, 1}));
  // Top level stored first.
  EXPECT_EQ(g->level_first_block, (std::vector<uint64_t>{1, 0}));

  g = ComputeGeometry(Params(128 * 128 + 1));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->levels, 3u);
  EXPECT_EQ(g->level_blocks, (std::vector<uint64_t>{129, 2, 1}));
  EXPECT_EQ(g->level_first_block, (std::vector<uint64_t>{3, 1, 0}));
  EXPECT_EQ(g->tree_blocks, 132u);
  EXPECT_EQ(g->hash_area_size, 4096u + 132u * 4096u);
}

TEST(VerityGeometry, DigestSlotsArePowersOfTwo) {
  auto g = ComputeGeometry(Params(1000, HashAlgorithm::kSha1, 512, 512));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->digest_size, 20u);
  EXPECT_EQ(g->digest_slot_size, 32u);
  EXPECT_EQ(g->hashes_per_block, 16u);
  g = ComputeGeometry(Params(1000, HashAlgorithm::kSha512, 1024, 512));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->hashes_per_block, 8u);
  EXPECT_EQ(g->levels, 4u);  // 8^3 = 512 < 1000 <= 8^4
}

TEST(VerityGeometry, NoSuperblockTreeStartsAtOffset) {
  VerityParams p = Params(5);
  p.superblock = false;
  p.hash_offset = 8192;
  auto g = ComputeGeometry(p);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->tree_offset, 8192u);
  EXPECT_EQ(g->hash_area_size, 4096u);
}

TEST(VerityGeometry, RejectsBadBlockSizes) {
  for (uint32_t bad : {0u, 256u, 3000u, 4095u, 1024u * 1024u}) {
    auto g = ComputeGeometry(Params(8, HashAlgorithm::kSha256, bad, 4096));
    ASSERT_FALSE(g) << bad;
    EXPECT_NE(g.error().message().find("data block size"), std::string::npos);
    g = ComputeGeometry(Params(8, HashAlgorithm::kSha256, 4096, bad));
    ASSERT_FALSE(g) << bad;
    EXPECT_NE(g.error().message().find("hash block size"), std::string::npos);
  }
}

TEST(VerityGeometry, RejectsLongSaltEmptyDataAndOverflow) {
  VerityParams p = Params(8);
  p.salt.assign(257, 1);
  auto g = ComputeGeometry(p);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message().find("salt"), std::string::npos);
  EXPECT_FALSE(ComputeGeometry(Params(0)));
  EXPECT_FALSE(ComputeGeometry(Params(UINT64_MAX / 512)));
  p = Params(8);
  p.hash_offset = UINT64_MAX - 511;
  EXPECT_FALSE(ComputeGeometry(p));
  p.hash_offset = 100;  // not 512-aligned
  EXPECT_FALSE(ComputeGeometry(p));
  p.superblock = false;
  p.hash_offset = 512;  // not hash-block aligned without a superblock
  EXPECT_FALSE(ComputeGeometry(p));
}

// ---- superblock ----

TEST(VeritySuperblock, RoundTripsAndHasVeritysetupLayout) {
  VerityParams p = Params(12345, HashAlgorithm::kSha512, 1024, 2048);
  p.uuid = UuidFromSeed("seed");
  auto sb = SerializeSuperblock(p);
  EXPECT_EQ(std::memcmp(sb.data(), "verity\0\0", 8), 0);
  EXPECT_EQ(sb[8], 1);   // version
  EXPECT_EQ(sb[12], 1);  // hash type
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&sb[32])), "sha512");
  EXPECT_EQ(sb[64] | sb[65] << 8, 1024);
  EXPECT_EQ(sb[68] | sb[69] << 8, 2048);
  EXPECT_EQ(sb[72] | sb[73] << 8, 12345);
  EXPECT_EQ(sb[80], 32);
  EXPECT_EQ(sb[88], 0x5a);
  auto parsed = ParseSuperblock(sb);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, p);
}

struct BadSuperblock {
  const char* name;
  void (*mutate)(std::array<uint8_t, kSuperblockSize>&);
  const char* message;
};

TEST(VeritySuperblock, RejectsMalformed) {
  const BadSuperblock cases[] = {
      {"garbage", [](auto& b) { b.fill(0xa5); }, "no verity superblock"},
      {"ext4-like zeros", [](auto& b) { b.fill(0); }, "no verity superblock"},
      {"version 2", [](auto& b) { b[8] = 2; }, "version 2"},
      {"hash type 0", [](auto& b) { b[12] = 0; }, "hash type 0"},
      {"unknown hash", [](auto& b) { std::memcpy(&b[32], "md5\0", 4); }, "md5"},
      {"unterminated hash", [](auto& b) { std::memset(&b[32], 'a', 32); }, "not terminated"},
      {"salt too long",
       [](auto& b) {
         b[80] = 1;
         b[81] = 1;
       },
       "salt size 257"},
      {"data block size 0", [](auto& b) { std::memset(&b[64], 0, 4); }, "data block size 0"},
      {"hash block size 3000",
       [](auto& b) {
         b[68] = 3000 & 0xff;
         b[69] = 3000 >> 8;
       },
       "hash block size 3000"},
      {"no data blocks", [](auto& b) { std::memset(&b[72], 0, 8); }, "0 data blocks"},
  };
  for (const auto& c : cases) {
    auto sb = SerializeSuperblock(Params(100));
    c.mutate(sb);
    auto r = ParseSuperblock(sb);
    ASSERT_FALSE(r) << c.name;
    EXPECT_NE(r.error().message().find(c.message), std::string::npos)
        << c.name << ": " << r.error().message();
  }
  auto sb = SerializeSuperblock(Params(100));
  auto r = ParseSuperblock(std::span(sb).first(100));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("truncated"), std::string::npos);
}

// ---- seed, UUID ----

TEST(VeritySeed, DerivesDocumentedValues) {
  std::string salt_input("basalt-verity-salt\0build-42", 27);
  auto expected = Sha256(salt_input);
  auto salt = SaltFromSeed("build-42");
  EXPECT_EQ(salt, std::vector<uint8_t>(expected.begin(), expected.end()));
  EXPECT_NE(SaltFromSeed("build-43"), salt);

  std::string uuid_input("basalt-verity-uuid\0build-42", 27);
  auto uh = Sha256(uuid_input);
  Uuid u = UuidFromSeed("build-42");
  EXPECT_EQ(u[0], uh[0]);
  EXPECT_EQ(u[15], uh[15]);
  EXPECT_EQ(u[6] >> 4, 8);       // version 8
  EXPECT_EQ(u[8] & 0xc0, 0x80);  // RFC variant
  EXPECT_EQ(UuidFromSeed("build-42"), u);
}

TEST(VerityUuid, ParsesAndFormats) {
  auto u = ParseUuid("01234567-89AB-cdef-0011-223344556677");
  ASSERT_TRUE(u);
  EXPECT_EQ(FormatUuid(*u), "01234567-89ab-cdef-0011-223344556677");
  EXPECT_FALSE(ParseUuid("0123456789abcdef0011223344556677"));
  EXPECT_FALSE(ParseUuid("01234567-89ab-cdef-0011-22334455667g"));
  EXPECT_FALSE(ParseUuid(""));
  EXPECT_NE(RandomUuid(), RandomUuid());
}

// ---- format and verify against the reference ----

struct TreeCase {
  uint64_t blocks;
  HashAlgorithm alg;
  uint32_t dbs, hbs;
  size_t salt_size;
  bool superblock;
};

class VerityFormatTest : public ::testing::TestWithParam<TreeCase> {};

TEST_P(VerityFormatTest, MatchesReferenceAndVerifies) {
  const TreeCase c = GetParam();
  TempDir dir;
  auto data = RandomBytes(c.blocks * c.dbs, c.blocks * 31 + c.dbs);
  WriteBytes(dir / "data", data);
  FormatOptions o;
  o.data_path = dir / "data";
  o.hash_path = dir / "hash";
  o.algorithm = c.alg;
  o.data_block_size = c.dbs;
  o.hash_block_size = c.hbs;
  o.salt = RandomBytes(c.salt_size, 7);
  o.superblock = c.superblock;
  o.uuid = UuidFromSeed("u");
  auto r = Format(o);
  ASSERT_TRUE(r) << r.error().message();

  auto ref = BuildReference(data, c.alg, c.dbs, c.hbs, *o.salt);
  EXPECT_EQ(r->root_hash, ref.root);
  auto hash = ReadBytes(dir / "hash");
  size_t tree_at = r->geometry.tree_offset;
  const std::vector<uint8_t> stored = ref.Stored();
  ASSERT_EQ(hash.size(), tree_at + stored.size());
  EXPECT_TRUE(std::equal(stored.begin(), stored.end(), hash.begin() + static_cast<long>(tree_at)));
  if (c.superblock) {
    auto sb = ParseSuperblock(hash);
    ASSERT_TRUE(sb);
    EXPECT_EQ(sb->data_blocks, c.blocks);
    EXPECT_EQ(sb->salt, *o.salt);
    EXPECT_TRUE(std::all_of(hash.begin() + kSuperblockSize,
                            hash.begin() + static_cast<long>(tree_at),
                            [](uint8_t b) { return b == 0; }));
  }

  VerifyOptions v;
  v.data_path = o.data_path;
  v.hash_path = o.hash_path;
  v.root_hash = ref.root;
  if (!c.superblock) v.params = r->params;
  for (unsigned threads : {1u, 3u}) {
    v.threads = threads;
    auto ok = Verify(v);
    EXPECT_TRUE(ok) << ok.error().message();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, VerityFormatTest,
    ::testing::Values(TreeCase{1, HashAlgorithm::kSha256, 4096, 4096, 32, true},
                      TreeCase{2, HashAlgorithm::kSha256, 4096, 4096, 0, true},
                      TreeCase{128, HashAlgorithm::kSha256, 4096, 4096, 32, true},
                      TreeCase{129, HashAlgorithm::kSha256, 4096, 4096, 256, false},
                      TreeCase{1001, HashAlgorithm::kSha1, 512, 4096, 32, true},
                      TreeCase{777, HashAlgorithm::kSha512, 1024, 512, 17, true},
                      TreeCase{4097, HashAlgorithm::kSha256, 512, 1024, 0, false},
                      TreeCase{300, HashAlgorithm::kSha512, 4096, 1024, 256, true}));

TEST(VerityFormat, ThreadCountDoesNotChangeOutput) {
  TempDir dir;
  WriteBytes(dir / "data", RandomBytes(3000 * 512, 99));
  FormatOptions o;
  o.data_path = dir / "data";
  o.data_block_size = 512;
  o.seed = "threads";
  o.hash_path = dir / "h1";
  o.threads = 1;
  auto a = Format(o);
  o.hash_path = dir / "h5";
  o.threads = 5;
  auto b = Format(o);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->root_hash, b->root_hash);
  EXPECT_EQ(ReadBytes(dir / "h1"), ReadBytes(dir / "h5"));
}

// The payload applier hands Format the digests it computed while writing; the tree must be the
// one Format computes from the data, and a digest list of the wrong size is refused.
TEST(VerityFormat, PrecomputedDataDigestsGiveTheSameTree) {
  TempDir dir;
  const auto data = RandomBytes(300 * 4096, 7);
  WriteBytes(dir / "data", data);
  FormatOptions o;
  o.data_path = dir / "data";
  o.seed = "digests";
  o.hash_path = dir / "h-read";
  auto a = Format(o);
  ASSERT_TRUE(a.has_value()) << a.error().message();
  std::vector<uint8_t> digests(300 * 32);
  Hasher prefix(HashAlgorithm::kSha256), h(HashAlgorithm::kSha256);
  prefix.Update(std::span(a->params.salt));
  for (size_t b = 0; b < 300; ++b) {
    h.CopyStateFrom(prefix);
    h.Update(std::span(data).subspan(b * 4096, 4096));
    h.Final(digests.data() + b * 32);
  }
  o.hash_path = dir / "h-given";
  o.data_digests = digests;
  auto b = Format(o);
  ASSERT_TRUE(b.has_value()) << b.error().message();
  EXPECT_EQ(a->root_hash, b->root_hash);
  EXPECT_EQ(ReadBytes(dir / "h-read"), ReadBytes(dir / "h-given"));
  // A wrong digest changes the root, which is how callers find out.
  digests[5 * 32] ^= 1;
  auto c = Format(o);
  ASSERT_TRUE(c.has_value());
  EXPECT_NE(c->root_hash, a->root_hash);
  o.data_digests = std::span(digests).first(299 * 32);
  auto d = Format(o);
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(d.error().message().find("data digests for 300 blocks"), std::string::npos)
      << d.error().message();
}

TEST(VerityFormat, AppendsTreeAfterDataByDefault) {
  TempDir dir;
  auto data = RandomBytes(50 * 4096, 5);
  WriteBytes(dir / "usr.img", data);
  FormatOptions o;
  o.data_path = dir / "usr.img";
  o.seed = "flatcar";
  auto r = Format(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->params.hash_offset, data.size());
  EXPECT_EQ(r->params.salt, SaltFromSeed("flatcar"));
  EXPECT_EQ(r->params.uuid, UuidFromSeed("flatcar"));
  auto file = ReadBytes(dir / "usr.img");
  EXPECT_EQ(file.size(), data.size() + r->geometry.hash_area_size);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), file.begin()));

  VerifyOptions v;
  v.data_path = o.data_path;
  v.hash_offset = data.size();
  v.root_hash = r->root_hash;
  auto ok = Verify(v);
  EXPECT_TRUE(ok) << ok.error().message();
  v.hash_offset.reset();
  auto missing = Verify(v);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("hash offset"), std::string::npos);
}

// ---- verification failures name the block ----

class VerityCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = RandomBytes(blocks_ * 4096, 11);
    WriteBytes(dir_ / "data", data_);
    FormatOptions o;
    o.data_path = dir_ / "data";
    o.hash_path = dir_ / "hash";
    o.seed = "corrupt";
    auto r = Format(o);
    ASSERT_TRUE(r) << r.error().message();
    format_ = *r;
  }
  Result<VerityParams> Run(Corruption* where) {
    VerifyOptions v;
    v.data_path = dir_ / "data";
    v.hash_path = dir_ / "hash";
    v.root_hash = format_.root_hash;
    v.corruption = where;
    v.threads = 2;
    return Verify(v);
  }
  const uint64_t blocks_ = 128 * 3 + 5;  // two levels: 4 leaf-digest blocks under one top block
  TempDir dir_;
  std::vector<uint8_t> data_;
  FormatResult format_;
};

TEST_F(VerityCorruptionTest, NamesFirstCorruptDataBlock) {
  PatchByte(dir_ / "data", 300 * 4096 + 17, 0x01);
  PatchByte(dir_ / "data", 200 * 4096 + 4095, 0x80);
  Corruption where;
  auto r = Run(&where);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::kIntegrity);
  EXPECT_NE(r.error().message().find("data block 200 "), std::string::npos) << r.error().message();
  EXPECT_EQ(where.area, Corruption::Area::kData);
  EXPECT_EQ(where.block, 200u);
  EXPECT_EQ(where.byte_offset, 200u * 4096);
}

TEST_F(VerityCorruptionTest, NamesCorruptLeafHashBlock) {
  // Level 0 starts after the superblock block and the single top block.
  const uint64_t leaf_block2 = format_.geometry.LevelOffset(0) + 2 * 4096;
  PatchByte(dir_ / "hash", leaf_block2 + 100, 0x10);
  Corruption where;
  auto r = Run(&where);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::kIntegrity);
  EXPECT_EQ(where.area, Corruption::Area::kHash);
  EXPECT_EQ(where.level, 0u);
  EXPECT_EQ(where.block, 1u + 2u);  // index from the tree start: top block, then leaves
  EXPECT_EQ(where.byte_offset, leaf_block2);
  EXPECT_NE(r.error().message().find("hash block 3 "), std::string::npos) << r.error().message();
}

TEST_F(VerityCorruptionTest, WrongRootHashBlamesTopBlock) {
  format_.root_hash[0] ^= 1;
  Corruption where;
  auto r = Run(&where);
  ASSERT_FALSE(r);
  EXPECT_EQ(where.area, Corruption::Area::kHash);
  EXPECT_EQ(where.byte_offset, format_.geometry.tree_offset);
  EXPECT_NE(r.error().message().find("root hash"), std::string::npos);
}

TEST_F(VerityCorruptionTest, ChangedPaddingIsACorruptHashBlock) {
  // The last leaf-digest block holds 5 digests; a change in its zero tail changes the block.
  const uint64_t tail = format_.geometry.LevelOffset(0) + 3 * 4096 + 5 * 32 + 9;
  PatchByte(dir_ / "hash", tail, 0x01);
  Corruption where;
  auto r = Run(&where);
  ASSERT_FALSE(r);
  EXPECT_EQ(where.area, Corruption::Area::kHash);
  EXPECT_EQ(where.block, 4u);
  EXPECT_NE(r.error().message().find("hash block 4 "), std::string::npos) << r.error().message();
}

TEST(VeritySpareArea, NonZeroPaddingUnderAMatchingRootIsRejected) {
  // veritysetup verify insists that padding is zero even when the hashes cover it; so do we.
  for (HashAlgorithm alg : {HashAlgorithm::kSha256, HashAlgorithm::kSha1}) {
    TempDir dir;
    WriteBytes(dir / "data", RandomBytes(5 * 4096, 2));
    FormatOptions o;
    o.data_path = dir / "data";
    o.hash_path = dir / "hash";
    o.algorithm = alg;
    o.salt = std::vector<uint8_t>{9, 9};
    auto r = Format(o);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->geometry.levels, 1u);
    // sha1: inside the second slot's padding; sha256: in the block tail.
    const uint64_t at = alg == HashAlgorithm::kSha1 ? 32 + 25 : 5 * 32 + 3;
    PatchByte(dir / "hash", r->geometry.tree_offset + at, 0x40);
    auto hash = ReadBytes(dir / "hash");
    Hasher h(alg);
    h.Update(std::span(*o.salt));
    h.Update(std::span(hash).subspan(r->geometry.tree_offset, 4096));
    VerifyOptions v;
    v.data_path = o.data_path;
    v.hash_path = o.hash_path;
    v.root_hash = h.Final();
    auto bad = Verify(v);
    ASSERT_FALSE(bad) << HashAlgorithmName(alg);
    EXPECT_EQ(bad.error().kind(), ErrorKind::kIntegrity);
    EXPECT_NE(bad.error().message().find("spare area is not zeroed"), std::string::npos)
        << bad.error().message();
  }
}

TEST_F(VerityCorruptionTest, TruncatedHashAreaIsInvalidInput) {
  ASSERT_EQ(::truncate((dir_ / "hash").c_str(), 4096 * 3), 0);
  auto r = Run(nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(r.error().message().find("truncated"), std::string::npos) << r.error().message();
}

TEST_F(VerityCorruptionTest, TruncatedDataIsInvalidInput) {
  ASSERT_EQ(::truncate((dir_ / "data").c_str(), 4096 * 10), 0);
  auto r = Run(nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(r.error().message().find("truncated"), std::string::npos) << r.error().message();
}

TEST_F(VerityCorruptionTest, ForeignSuperblockIsRejected) {
  std::vector<uint8_t> garbage = RandomBytes(4096, 1);
  WriteBytes(dir_ / "hash", garbage);
  auto r = Run(nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(r.error().message().find("no verity superblock"), std::string::npos);
}

TEST_F(VerityCorruptionTest, WrongRootHashLengthIsInvalidInput) {
  format_.root_hash.resize(20);
  auto r = Run(nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
}

// ---- format rejects bad input before writing ----

TEST(VerityFormatErrors, RejectsBadInput) {
  TempDir dir;
  WriteBytes(dir / "data", RandomBytes(10 * 4096 + 100, 3));
  WriteBytes(dir / "aligned", RandomBytes(10 * 4096, 3));
  struct Case {
    const char* name;
    void (*tweak)(FormatOptions&);
    const char* message;
  };
  const Case cases[] = {
      {"size not a multiple", [](FormatOptions&) {}, "not a multiple of the data block size"},
      {"zero block size", [](FormatOptions& o) { o.data_block_size = 0; }, "data block size 0"},
      {"non power of two", [](FormatOptions& o) { o.hash_block_size = 1536; },
       "hash block size 1536"},
      {"salt too long",
       [](FormatOptions& o) {
         o.data_blocks = 10;
         o.salt = std::vector<uint8_t>(257);
       },
       "salt is 257"},
      {"too many blocks", [](FormatOptions& o) { o.data_blocks = 11; }, "fewer than the 11"},
      {"overlapping hash offset",
       [](FormatOptions& o) {
         o.data_blocks = 10;
         o.hash_offset = 4096 * 9;
       },
       "overlaps the data"},
  };
  for (const auto& c : cases) {
    FormatOptions o;
    o.data_path = dir / "data";
    o.seed = "x";
    c.tweak(o);
    auto r = Format(o);
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput) << c.name;
    EXPECT_NE(r.error().message().find(c.message), std::string::npos)
        << c.name << ": " << r.error().message();
  }
  // Nothing was written to the data file by any rejected call.
  EXPECT_EQ(ReadBytes(dir / "data").size(), 10u * 4096 + 100);

  // The same inode under a second name is still the same file.
  FormatOptions o;
  o.data_path = dir / "aligned";
  o.hash_path = dir / "aligned";
  o.hash_offset = 0;
  auto r = Format(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("overlaps"), std::string::npos);
  EXPECT_EQ(ReadBytes(dir / "aligned"), RandomBytes(10 * 4096, 3));
}

TEST(VerityFormatErrors, DataBlocksSelectsPrefix) {
  TempDir dir;
  auto data = RandomBytes(10 * 4096 + 100, 3);
  WriteBytes(dir / "data", data);
  FormatOptions o;
  o.data_path = dir / "data";
  o.hash_path = dir / "hash";
  o.data_blocks = 10;
  o.salt = std::vector<uint8_t>{};
  auto r = Format(o);
  ASSERT_TRUE(r) << r.error().message();
  data.resize(10 * 4096);
  EXPECT_EQ(r->root_hash, BuildReference(data, HashAlgorithm::kSha256, 4096, 4096, {}).root);
}

}  // namespace
}  // namespace basalt::verity
