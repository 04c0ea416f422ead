// Unit tests of the payload container parser, manifest validation and the codecs.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "update-engine/payload/bspatch.h"
#include "update-engine/payload/codec.h"
#include "update-engine/payload/file_map.h"
#include "update-engine/payload/format.h"

namespace basalt::payload {
namespace {

std::vector<uint8_t> Bytes(size_t n, uint64_t seed, bool compressible) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = compressible ? "abcabd\n"[rng() % 7] : rng() & 0xff;
  return v;
}

TEST(PayloadHeader, RoundTrips) {
  Header h{kFormatVersion, kMinorDelta, 1234, 99};
  auto bytes = EncodeHeader(h);
  auto d = DecodeHeader(bytes);
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->minor_version, kMinorDelta);
  EXPECT_EQ(d->manifest_size, 1234u);
  EXPECT_EQ(d->signatures_size, 99u);
  EXPECT_EQ(d->blobs_offset(), kHeaderSize + 1234 + 99);
}

TEST(PayloadHeader, RefusesWithClearMessages) {
  auto expect_refused = [](Header h, std::string_view what, ErrorKind kind, int poke = -1) {
    auto bytes = EncodeHeader(h);
    if (poke >= 0) bytes[poke] ^= 1;
    auto d = DecodeHeader(bytes);
    ASSERT_FALSE(d.has_value()) << what;
    EXPECT_EQ(d.error().kind(), kind) << d.error().message();
    EXPECT_NE(d.error().message().find(what), std::string::npos) << d.error().message();
  };
  expect_refused({kFormatVersion, kMinorFull, 10, 10}, "bad magic", ErrorKind::kInvalidInput, 0);
  expect_refused({2, kMinorFull, 10, 10}, "format version 2", ErrorKind::kUnsupported);
  expect_refused({kFormatVersion, 3, 10, 10}, "minor version 3", ErrorKind::kUnsupported);
  expect_refused({kFormatVersion, 0, 10, 10}, "minor version 0", ErrorKind::kUnsupported);
  expect_refused({kFormatVersion, kMinorFull, 0, 10}, "manifest size 0", ErrorKind::kInvalidInput);
  expect_refused({kFormatVersion, kMinorFull, kMaxManifestSize + 1, 10}, "manifest size",
                 ErrorKind::kInvalidInput);
  expect_refused({kFormatVersion, kMinorFull, 10, 0}, "no signature", ErrorKind::kIntegrity);
  expect_refused({kFormatVersion, kMinorFull, 10, 10}, "reserved", ErrorKind::kInvalidInput, 29);
  auto short_header = DecodeHeader(std::span(EncodeHeader({}).data(), 20));
  ASSERT_FALSE(short_header.has_value());
  EXPECT_NE(short_header.error().message().find("truncated"), std::string::npos);
}

// A minimal valid full manifest: 3 data blocks + superblock, tree after.
Manifest ValidManifest() {
  Manifest m;
  m.set_block_size(kBlockSize);
  m.set_version("1");
  auto* p = m.add_partitions();
  p->set_name("usr");
  p->set_new_size(6 * kBlockSize);
  p->set_new_sha256(std::string(32, 'x'));
  auto* v = p->mutable_verity();
  v->set_hash_algorithm("sha256");
  v->set_data_block_size(kBlockSize);
  v->set_hash_block_size(kBlockSize);
  v->set_data_blocks(3);
  v->set_hash_offset(3 * kBlockSize);
  v->set_root_hash(std::string(32, 'r'));
  v->set_has_superblock(true);
  auto* op = p->add_operations();
  op->set_type(Operation::REPLACE_ZSTD);
  op->set_data_offset(0);
  op->set_data_length(100);
  op->set_data_sha256(std::string(32, 'd'));
  auto* e = op->add_dst_extents();
  e->set_start_block(0);
  e->set_num_blocks(2);
  auto* z = p->add_operations();
  z->set_type(Operation::ZERO);
  e = z->add_dst_extents();
  e->set_start_block(2);
  e->set_num_blocks(2);
  m.set_blobs_size(100);
  return m;
}

void ExpectInvalid(const Manifest& m, uint32_t minor, std::string_view what) {
  auto s = ValidateManifest(m, minor);
  ASSERT_FALSE(s.has_value()) << "accepted; wanted: " << what;
  EXPECT_NE(s.error().message().find(what), std::string::npos) << s.error().message();
}

TEST(PayloadManifest, ValidManifestPasses) {
  auto s = ValidateManifest(ValidManifest(), kMinorFull);
  EXPECT_TRUE(s.has_value()) << s.error().message();
  std::string bytes = ValidManifest().SerializeAsString();
  auto d = DecodeManifest(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                          kMinorFull);
  EXPECT_TRUE(d.has_value());
}

TEST(PayloadManifest, RefusesStructuralErrors) {
  {
    Manifest m = ValidManifest();
    m.set_block_size(512);
    ExpectInvalid(m, kMinorFull, "block size 512");
  }
  {
    Manifest m = ValidManifest();
    m.mutable_partitions(0)->mutable_operations(1)->mutable_dst_extents(0)->set_num_blocks(1);
    ExpectInvalid(m, kMinorFull, "write 3 of the 4 blocks");
  }
  {
    Manifest m = ValidManifest();
    m.mutable_partitions(0)->mutable_operations(1)->mutable_dst_extents(0)->set_start_block(1);
    ExpectInvalid(m, kMinorFull, "written twice");
  }
  {
    Manifest m = ValidManifest();
    m.mutable_partitions(0)->mutable_operations(1)->mutable_dst_extents(0)->set_num_blocks(3);
    ExpectInvalid(m, kMinorFull, "outside the 4 writable blocks");
  }
  {
    Manifest m = ValidManifest();
    m.mutable_partitions(0)->mutable_operations(0)->set_data_offset(5);
    ExpectInvalid(m, kMinorFull, "contiguous");
  }
  {
    Manifest m = ValidManifest();
    m.set_blobs_size(101);
    ExpectInvalid(m, kMinorFull, "blob area is 101 bytes");
  }
  {
    Manifest m = ValidManifest();
    m.mutable_partitions(0)->mutable_operations(0)->set_data_sha256("short");
    ExpectInvalid(m, kMinorFull, "not 32 bytes");
  }
  {
    Manifest m = ValidManifest();
    auto* op = m.mutable_partitions(0)->mutable_operations(1);
    op->set_type(Operation::SOURCE_COPY);
    ExpectInvalid(m, kMinorFull, "needs minor version 2");
    ExpectInvalid(m, kMinorDelta, "without an old image");
  }
  {
    Manifest m = ValidManifest();
    m.mutable_partitions(0)->mutable_operations(1)->set_type(static_cast<Operation::Type>(42));
    ExpectInvalid(m, kMinorFull, "unknown type 42");
  }
  {
    Manifest m = ValidManifest();
    m.mutable_partitions(0)->mutable_verity()->set_hash_algorithm("md5");
    ExpectInvalid(m, kMinorFull, "unknown hash algorithm");
  }
  {
    Manifest m = ValidManifest();
    m.mutable_partitions(0)->mutable_operations(1)->set_data_length(1);
    ExpectInvalid(m, kMinorFull, "must carry no data");
  }
  {
    Manifest m = ValidManifest();
    auto* op = m.mutable_partitions(0)->mutable_operations(0);
    op->set_type(Operation::REPLACE);
    ExpectInvalid(m, kMinorFull, "REPLACE data length differs");
  }
}

TEST(PayloadManifest, SourceOperationChecks) {
  Manifest m = ValidManifest();
  auto* p = m.mutable_partitions(0);
  p->set_old_size(2 * kBlockSize);
  p->set_old_sha256(std::string(32, 'o'));
  auto* op = p->mutable_operations(1);
  op->set_type(Operation::SOURCE_COPY);
  auto* src = op->add_src_extents();
  src->set_start_block(0);
  src->set_num_blocks(2);
  ExpectInvalid(m, kMinorDelta, "source SHA-256 is not 32 bytes");
  op->set_src_sha256(std::string(32, 's'));
  EXPECT_TRUE(ValidateManifest(m, kMinorDelta).has_value());
  src->set_start_block(1);
  ExpectInvalid(m, kMinorDelta, "outside the 2 old blocks");
  src->set_start_block(0);
  src->set_num_blocks(1);
  ExpectInvalid(m, kMinorDelta, "sizes differ");
}

TEST(PayloadCodec, ZstdRoundTripAndExactSize) {
  auto data = Bytes(300000, 1, true);
  auto c = ZstdCompress(data, 3);
  ASSERT_TRUE(c.has_value());
  std::vector<uint8_t> out(data.size());
  ASSERT_TRUE(ZstdDecompressExact(*c, out).has_value());
  EXPECT_EQ(out, data);
  std::vector<uint8_t> small(data.size() - 1), big(data.size() + 1);
  EXPECT_FALSE(ZstdDecompressExact(*c, small).has_value());
  EXPECT_FALSE(ZstdDecompressExact(*c, big).has_value());
  auto truncated = *c;
  truncated.resize(truncated.size() / 2);
  EXPECT_FALSE(ZstdDecompressExact(truncated, out).has_value());
  auto trailing = *c;
  trailing.push_back(0);
  EXPECT_FALSE(ZstdDecompressExact(trailing, out).has_value());
}

TEST(PayloadCodec, ZstdPatchNeedsTheSameSource) {
  auto old_data = Bytes(1 << 20, 2, false);
  auto new_data = old_data;
  for (size_t i = 0; i < new_data.size(); i += 5000)
    new_data[i] ^= 0xff;
  auto patch = ZstdCompress(new_data, 3, old_data);
  ASSERT_TRUE(patch.has_value());
  EXPECT_LT(patch->size(), new_data.size() / 20) << "prefix dictionary not used";
  std::vector<uint8_t> out(new_data.size());
  ZstdDecoder dec;
  ASSERT_TRUE(dec.DecompressExact(*patch, out, old_data).has_value());
  EXPECT_EQ(out, new_data);
  // The decoder is reusable, and without the prefix the patch does not decode.
  EXPECT_FALSE(dec.DecompressExact(*patch, out).has_value());
}

TEST(PayloadCodec, XzRoundTripAndExactSize) {
  auto data = Bytes(200000, 3, true);
  auto c = XzCompress(data, 6);
  ASSERT_TRUE(c.has_value());
  std::vector<uint8_t> out(data.size());
  ASSERT_TRUE(XzDecompressExact(*c, out).has_value());
  EXPECT_EQ(out, data);
  std::vector<uint8_t> small(data.size() - 1), big(data.size() + 1);
  EXPECT_FALSE(XzDecompressExact(*c, small).has_value());
  EXPECT_FALSE(XzDecompressExact(*c, big).has_value());
  (*c)[c->size() / 2] ^= 1;
  EXPECT_FALSE(XzDecompressExact(*c, out).has_value());
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + std::to_string(getpid()))).string();
}

TEST(PayloadBspatch, AppliesPatchesFromDebianBsdiff) {
  if (std::system("command -v bsdiff >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "bsdiff is not installed";
  }
  auto old_data = Bytes(200000, 4, false);
  auto new_data = old_data;
  new_data.insert(new_data.begin() + 1000, {1, 2, 3, 4, 5});
  for (size_t i = 50000; i < 50100; ++i)
    new_data[i] += 3;
  auto extra = Bytes(3000, 5, false);
  new_data.insert(new_data.end(), extra.begin(), extra.end());
  const std::string o = TempPath("bsold"), n = TempPath("bsnew"), p = TempPath("bspatch");
  std::ofstream(o, std::ios::binary)
      .write(reinterpret_cast<const char*>(old_data.data()), old_data.size());
  std::ofstream(n, std::ios::binary)
      .write(reinterpret_cast<const char*>(new_data.data()), new_data.size());
  ASSERT_EQ(std::system(("bsdiff " + o + " " + n + " " + p).c_str()), 0);
  std::ifstream in(p, std::ios::binary);
  std::vector<uint8_t> patch((std::istreambuf_iterator<char>(in)), {});
  std::filesystem::remove(o);
  std::filesystem::remove(n);
  std::filesystem::remove(p);
  std::vector<uint8_t> out(new_data.size());
  auto s = ApplyBsdiff(old_data, patch, out);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  EXPECT_EQ(out, new_data);
  std::vector<uint8_t> wrong_size(new_data.size() + 1);
  EXPECT_FALSE(ApplyBsdiff(old_data, patch, wrong_size).has_value());
  auto bad = patch;
  bad[bad.size() / 2] ^= 0x10;
  EXPECT_FALSE(ApplyBsdiff(old_data, bad, out).has_value());
  bad = patch;
  bad[0] = 'X';
  EXPECT_FALSE(ApplyBsdiff(old_data, bad, out).has_value());
}

}  // namespace
}  // namespace basalt::payload

namespace basalt::payload {
namespace {

FileBlocks File(std::string path, size_t blocks) {
  FileBlocks f{std::move(path), {}};
  for (size_t i = 0; i < blocks; ++i)
    f.blocks.push_back(1000 + i);
  return f;
}

TEST(PayloadFileMatch, VersionlessPathMapsVersionsTogether) {
  EXPECT_EQ(VersionlessPath("/lib/modules/6.1.0-50-cloud-amd64/kernel/fs/ext4/ext4.ko"),
            VersionlessPath("/lib/modules/6.1.0-56-cloud-amd64/kernel/fs/ext4/ext4.ko"));
  EXPECT_EQ(VersionlessPath("/lib/x86_64-linux-gnu/libssl.so.1.2.3"),
            "/lib/x#_#-linux-gnu/libssl.so.#.#.#");
  EXPECT_NE(VersionlessPath("/bin/ls"), VersionlessPath("/bin/cp"));
}

TEST(PayloadFileMatch, PrefersPathThenVersionlessPathThenBasename) {
  std::vector<FileBlocks> old_files = {
      File("/lib/modules/6.1.0-50-cloud-amd64/vmlinuz", 2000),
      File("/lib/libfoo.so.1.2.3", 10),
      File("/lib/libfoo.so.1.2.4", 30),  // same versionless path, different size
      File("/share/doc/a/copyright", 3),
      File("/share/doc/b/copyright", 9),
      File("/bin/tool", 5),
  };
  FileMatcher m(old_files);
  EXPECT_EQ(m.Match(File("/bin/tool", 50)), 5);
  EXPECT_EQ(m.Match(File("/lib/modules/6.1.0-56-cloud-amd64/vmlinuz", 2100)), 0);
  // Several version candidates: the closest in size.
  EXPECT_EQ(m.Match(File("/lib/libfoo.so.1.2.5", 28)), 2);
  EXPECT_EQ(m.Match(File("/lib/libfoo.so.1.2.5", 11)), 1);
  // Moved to another directory: the basename, closest in size.
  EXPECT_EQ(m.Match(File("/share/doc/c/copyright", 8)), 4);
  EXPECT_EQ(m.Match(File("/usr/bin/tool", 5)), 5);
  EXPECT_EQ(m.Match(File("/bin/other", 5)), -1);
}

}  // namespace
}  // namespace basalt::payload
