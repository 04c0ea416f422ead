// SOURCE_GZIP_PATCH's building blocks: gzip members in pieces, their expanded form, and the
// manifest checks of the operation. Recompression runs the real /usr/bin/gzip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "payload/format.h"
#include "payload/gzip_region.h"

namespace basalt::payload {
namespace {

std::vector<uint8_t> Text(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  static const char* kWords[] = {"linux ",         "(6.1.57-1) ", "bookworm-security; ",
                                 "urgency=high\n", "  * ",        "CVE-2023-",
                                 "fix ",           "the ",        "driver ",
                                 "memory "};
  std::string s;
  while (s.size() < n)
    s += kWords[rng() % 10];
  s.resize(n);
  return {s.begin(), s.end()};
}

class PayloadGzip : public testing::Test {
 protected:
  void SetUp() override {
    if (access(kGzipTool, X_OK) != 0) GTEST_SKIP() << kGzipTool << " is not installed";
  }
};

TEST_F(PayloadGzip, GnuGzipLevelIsFoundAndZlibDecodes) {
  const auto text = Text(300000, 1);
  for (int level : {9, 6, 1}) {
    auto member = GzipCompress(text, level);
    ASSERT_TRUE(member.has_value()) << member.error().message();
    std::vector<uint8_t> back(text.size());
    ASSERT_TRUE(GzipDecompress(*member, back).has_value());
    EXPECT_EQ(back, text);
    auto found = FindGzipLevel(*member, text);
    ASSERT_TRUE(found.has_value()) << "level " << level;
    // Levels may tie on some inputs; what matters is that the one found reproduces the member.
    auto again = GzipCompress(text, *found);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(*again, *member);
  }
  // A member with a file name in its header is not what `gzip -n` writes.
  auto member = GzipCompress(text, 9);
  ASSERT_TRUE(member.has_value());
  (*member)[3] = 0x08;  // FNAME
  EXPECT_FALSE(FindGzipLevel(*member, text).has_value());
}

TEST_F(PayloadGzip, MalformedMembersAreRefusedByName) {
  const auto text = Text(50000, 2);
  auto member = GzipCompress(text, 9);
  ASSERT_TRUE(member.has_value());
  std::vector<uint8_t> out(text.size());
  auto expect_error = [&](std::vector<uint8_t> m, size_t out_size, const std::string& what) {
    std::vector<uint8_t> o(out_size);
    auto s = GzipDecompress(m, o);
    ASSERT_FALSE(s.has_value()) << what;
    EXPECT_NE(s.error().message().find(what), std::string::npos) << s.error().message();
  };
  auto truncated = *member;
  truncated.resize(truncated.size() / 2);
  expect_error(truncated, text.size(), "corrupt or truncated");
  auto bad_crc = *member;
  bad_crc[bad_crc.size() - 6] ^= 1;
  expect_error(bad_crc, text.size(), "corrupt or truncated");
  auto trailing = *member;
  trailing.push_back(0);
  expect_error(trailing, text.size(), "1 bytes after the member");
  expect_error(*member, text.size() - 1, "more than");
  expect_error(*member, text.size() + 1, "decompresses to 50000 bytes, not 50001");
  expect_error({'n', 'o', 't', ' ', 'g', 'z'}, 10, "corrupt or truncated");
}

// Two files in one operation: A has data blocks and a tail inline in the metadata block, B is
// wholly inline in the same block. Their members are pieces of the gathered bytes.
TEST_F(PayloadGzip, RegionsInPiecesExpandAndContractToTheSameBytes) {
  const auto a_text = Text(200000, 3), b_text = Text(5000, 4);
  auto a = GzipCompress(a_text, 9), b = GzipCompress(b_text, 9);
  ASSERT_TRUE(a && b);
  ASSERT_LT(b->size(), 2000u);
  const size_t a_blocks = a->size() / 4096, a_tail = a->size() % 4096;
  ASSERT_GT(a_tail, 0u);
  ASSERT_LT(a_tail + b->size() + 200, 4096u);
  std::vector<uint8_t> bytes((a_blocks + 1) * 4096, 0xee);  // 0xee: other inodes' metadata
  std::copy(a->begin(), a->begin() + static_cast<ptrdiff_t>(a_blocks * 4096), bytes.begin());
  const size_t meta = a_blocks * 4096;
  std::copy(a->end() - static_cast<ptrdiff_t>(a_tail), a->end(), bytes.begin() + meta + 100);
  std::copy(b->begin(), b->end(), bytes.begin() + meta + 150 + a_tail);
  std::vector<GzipRegion> regions = {
      {{{0, a_blocks * 4096}, {meta + 100, a_tail}}, a_text.size(), 9},
      {{{meta + 150 + a_tail, b->size()}}, b_text.size(), 9}};
  ASSERT_TRUE(CheckGzipRegions(regions, bytes.size()).has_value());
  auto expanded = ExpandGzipRegions(bytes, regions);
  ASSERT_TRUE(expanded.has_value()) << expanded.error().message();
  ASSERT_EQ(expanded->size(), ExpandedGzipSize(bytes.size(), regions));
  // The members' text first, in region order, then the bytes outside the pieces.
  EXPECT_TRUE(std::equal(a_text.begin(), a_text.end(), expanded->begin()));
  EXPECT_TRUE(std::equal(b_text.begin(), b_text.end(), expanded->begin() + a_text.size()));
  EXPECT_EQ(expanded->size() - a_text.size() - b_text.size(), 4096 - a_tail - b->size());
  auto back = ContractGzipRegions(*expanded, regions);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, bytes);

  // A level that does not reproduce the member is caught by its length or, at the latest, by
  // the operation's destination SHA-256.
  regions[0].level = 1;
  auto wrong = ContractGzipRegions(*expanded, regions);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(wrong.error().message().find("recompresses member 0"), std::string::npos)
      << wrong.error().message();
}

TEST_F(PayloadGzip, RegionChecksNameTheProblem) {
  auto expect = [](std::vector<GzipRegion> r, uint64_t bytes, const std::string& what) {
    auto s = CheckGzipRegions(r, bytes);
    ASSERT_FALSE(s.has_value()) << what;
    EXPECT_NE(s.error().message().find(what), std::string::npos) << s.error().message();
  };
  expect({}, 100, "0 gzip regions");
  expect({{{}, 10, 0}}, 100, "has 0 pieces");
  expect({{{{0, 50}, {40, 20}}, 10, 0}}, 100, "out of order");
  expect({{{{90, 20}}, 10, 0}}, 100, "outside 100 bytes");
  expect({{{{10, 0}}, 10, 0}}, 100, "is empty");
  expect({{{{0, 50}}, 0, 0}}, 100, "decompresses to 0 bytes");
  expect({{{{0, 50}}, kMaxGzipExpandedBytes, 0}, {{{50, 10}}, 1, 0}}, 100, "the limit for all");
  expect({{{{0, 50}}, 10, 0}, {{{49, 10}}, 10, 0}}, 100, "overlap at byte 49");
}

TEST(PayloadManifestGzip, GzipPatchChecks) {
  Manifest m;
  m.set_block_size(kBlockSize);
  m.set_version("2");
  m.set_from_version("1");
  auto* p = m.add_partitions();
  p->set_name("usr");
  p->set_old_size(4 * kBlockSize);
  p->set_old_sha256(std::string(32, 'o'));
  p->set_new_size(4 * kBlockSize);
  p->set_new_sha256(std::string(32, 'n'));
  auto* v = p->mutable_verity();
  v->set_hash_algorithm("sha256");
  v->set_salt(std::string(32, 's'));
  v->set_data_block_size(kBlockSize);
  v->set_hash_block_size(kBlockSize);
  v->set_data_blocks(3);
  v->set_hash_offset(3 * kBlockSize);
  v->set_root_hash(std::string(32, 'r'));
  auto* op = p->add_operations();
  op->set_type(Operation::SOURCE_GZIP_PATCH);
  op->set_data_length(10);
  op->set_data_sha256(std::string(32, 'd'));
  auto* src = op->add_src_extents();
  src->set_num_blocks(4);
  op->set_src_sha256(std::string(32, 's'));
  auto* dst = op->add_dst_extents();
  dst->set_num_blocks(3);
  m.set_blobs_size(10);
  auto expect = [&](uint32_t minor, const std::string& what) {
    auto s = ValidateManifest(m, minor);
    ASSERT_FALSE(s.has_value()) << what;
    EXPECT_NE(s.error().message().find(what), std::string::npos) << s.error().message();
  };
  expect(kMinorDelta4, "without its gzip regions");
  auto* sr = op->add_src_gzip();
  auto* sp = sr->add_pieces();
  sp->set_offset(0);
  sp->set_length(5000);
  sr->set_decompressed_length(9000);
  auto* dr = op->add_dst_gzip();
  auto* dp = dr->add_pieces();
  dp->set_offset(100);
  dp->set_length(6000);
  dr->set_decompressed_length(9500);
  dr->set_level(9);
  op->set_dst_sha256(std::string(32, 'n'));
  auto ok = ValidateManifest(m, kMinorDelta4);
  EXPECT_TRUE(ok.has_value()) << ok.error().message();
  expect(kMinorDelta3, "SOURCE_GZIP_PATCH needs minor version 4");
  dp->set_length(3 * kBlockSize);
  expect(kMinorDelta4, "destination gzip region 0: piece [100, +12288)");
  dp->set_length(6000);
  dr->set_level(0);
  expect(kMinorDelta4, "gzip level 0 is outside 1..9");
  dr->set_level(9);
  sr->set_level(9);
  expect(kMinorDelta4, "source gzip region carries a level");
  sr->set_level(0);
  op->set_dst_sha256("");
  expect(kMinorDelta4, "destination SHA-256 is not 32 bytes");
  // The fields belong to SOURCE_GZIP_PATCH only.
  op->set_dst_sha256(std::string(32, 'n'));
  op->set_type(Operation::SOURCE_ZSTD_PATCH);
  expect(kMinorDelta4, "SOURCE_ZSTD_PATCH carries gzip region fields");
}

}  // namespace
}  // namespace basalt::payload
