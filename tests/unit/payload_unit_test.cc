// Unit tests of the payload container parser, manifest validation and the codecs.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "file_map.h"
#include "payload/boot_artifacts.h"
#include "payload/bspatch.h"
#include "payload/codec.h"
#include "payload/format.h"
#include "payload/lz4_region.h"

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
  expect_refused({kFormatVersion, kMaxSupportedMinor + 1, 10, 10}, "minor version 6",
                 ErrorKind::kUnsupported);
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

// Issue 18 (7): `payload inspect` on a manifest whose hash_offset was near 2^64 died of
// bad_alloc: hash_offset + superblock wrapped below new_size, the rule passed, and the block map
// was sized from the offset. The same input is in tests/fuzz/corpus/payload.
TEST(PayloadManifest, HashOffsetNearTheTopOfUint64IsRefused) {
  const uint64_t top = ~uint64_t{0} - kBlockSize + 1;  // 2^64 - 4096, a whole block
  for (uint64_t offset :
       std::vector<uint64_t>{top, top - kBlockSize, uint64_t{1} << 63, uint64_t{7} * kBlockSize}) {
    Manifest m = ValidManifest();
    m.mutable_partitions(0)->mutable_verity()->set_hash_offset(offset);
    ExpectInvalid(m, kMinorFull, "do not fit new size 24576");
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

TEST(PayloadManifest, Lz4PatchChecks) {
  Manifest m = ValidManifest();
  auto* p = m.mutable_partitions(0);
  p->set_old_size(4 * kBlockSize);
  p->set_old_sha256(std::string(32, 'o'));
  auto* op = p->mutable_operations(0);
  op->set_type(Operation::SOURCE_LZ4_PATCH);
  auto* src = op->add_src_extents();
  src->set_start_block(0);
  src->set_num_blocks(4);
  op->set_src_sha256(std::string(32, 's'));
  ExpectInvalid(m, kMinorDelta3, "without its LZ4 regions");
  auto* sr = op->mutable_src_lz4();
  sr->set_offset(100);
  sr->set_compressed_length(4 * kBlockSize - 100);
  sr->set_decompressed_length(1 << 20);
  auto* dr = op->mutable_dst_lz4();
  dr->set_offset(0);
  dr->set_compressed_length(2 * kBlockSize);
  dr->set_decompressed_length(1 << 20);
  dr->set_level(9);
  op->set_dst_sha256(std::string(32, 'n'));
  EXPECT_TRUE(ValidateManifest(m, kMinorDelta3).has_value());
  ExpectInvalid(m, kMinorDelta, "SOURCE_LZ4_PATCH needs minor version 3");
  dr->set_compressed_length(2 * kBlockSize + 1);
  ExpectInvalid(m, kMinorDelta3, "destination LZ4 stream [0, +8193) is not inside its 8192 bytes");
  dr->set_compressed_length(2 * kBlockSize);
  sr->set_decompressed_length(kMaxLz4ExpandedBytes + 1);
  ExpectInvalid(m, kMinorDelta3, "source LZ4 stream decompresses to");
  sr->set_decompressed_length(1 << 20);
  dr->set_level(13);
  ExpectInvalid(m, kMinorDelta3, "level 13 is outside 1..12");
  dr->set_level(9);
  // The expanded forms patched by bsdiff instead of zstd: minor version 4.
  op->set_expanded_patch(Operation::BSDIFF_XZ);
  ExpectInvalid(m, kMinorDelta3, "SOURCE_LZ4_PATCH (BSDIFF_XZ) needs minor version 4");
  EXPECT_TRUE(ValidateManifest(m, kMinorDelta4).has_value());
  op->set_expanded_patch(static_cast<Operation::ExpandedPatch>(7));
  ExpectInvalid(m, kMinorDelta4, "unknown expanded patch 7");
  op->set_expanded_patch(Operation::ZSTD_PREFIX);
  op->set_dst_sha256("x");
  ExpectInvalid(m, kMinorDelta3, "destination SHA-256 is not 32 bytes");
  // The fields belong to SOURCE_LZ4_PATCH only.
  Manifest other = ValidManifest();
  other.mutable_partitions(0)->mutable_operations(0)->mutable_dst_lz4()->set_level(9);
  ExpectInvalid(other, kMinorDelta3, "REPLACE_ZSTD carries LZ4 region fields");
  Manifest other2 = ValidManifest();
  other2.mutable_partitions(0)->mutable_operations(0)->set_expanded_patch(Operation::BSDIFF_XZ);
  ExpectInvalid(other2, kMinorDelta4, "REPLACE_ZSTD carries an expanded patch format");
}

// ValidManifest with uki-A (zstd) and uki-B (patched from A) after the operations' 100 bytes.
Manifest WithUkis() {
  Manifest m = ValidManifest();
  uint64_t offset = 100;
  for (const char* name : {"uki-A", "uki-B"}) {
    BootArtifact* a = m.add_boot_artifacts();
    a->set_name(name);
    a->set_size(1000);
    a->set_sha256(std::string(32, 'u'));
    if (std::string_view(name) == "uki-B") {
      a->set_encoding(BootArtifact::ZSTD_PREFIX);
      a->set_dictionary("uki-A");
    }
    a->set_data_offset(offset);
    a->set_data_length(50);
    a->set_data_sha256(std::string(32, 'b'));
    offset += 50;
  }
  m.set_blobs_size(offset);
  return m;
}

TEST(PayloadManifest, BootArtifactRules) {
  EXPECT_TRUE(ValidateManifest(WithUkis(), kMinorBootArtifacts).has_value());
  ExpectInvalid(WithUkis(), kMinorDelta4,
                "boot artifacts need minor version 5, payload declares 4");
  auto expect = [](std::string_view what, const std::function<void(Manifest&)>& edit) {
    Manifest m = WithUkis();
    edit(m);
    ExpectInvalid(m, kMinorBootArtifacts, what);
  };
  expect("boot artifact 1: unknown name 'uki-C'",
         [](Manifest& m) { m.mutable_boot_artifacts(1)->set_name("uki-C"); });
  expect("boot artifact 1: unknown name",
         [](Manifest& m) { m.mutable_boot_artifacts(1)->set_name(std::string("uki-\0B", 6)); });
  expect("boot artifact 1: uki-A appears twice",
         [](Manifest& m) { m.mutable_boot_artifacts(1)->set_name("uki-A"); });
  expect("3 boot artifacts, at most 2",
         [](Manifest& m) { *m.add_boot_artifacts() = m.boot_artifacts(0); });
  expect("boot artifact 0: size 0 is outside",
         [](Manifest& m) { m.mutable_boot_artifacts(0)->set_size(0); });
  expect("size 67108865 is outside 1..67108864",
         [](Manifest& m) { m.mutable_boot_artifacts(0)->set_size(kMaxBootArtifactSize + 1); });
  expect("boot artifact 0: SHA-256 is not 32 bytes",
         [](Manifest& m) { m.mutable_boot_artifacts(0)->set_sha256("short"); });
  expect("boot artifact 1: data SHA-256 is not 32 bytes",
         [](Manifest& m) { m.mutable_boot_artifacts(1)->clear_data_sha256(); });
  expect("boot artifact 0: ZSTD carries a dictionary",
         [](Manifest& m) { m.mutable_boot_artifacts(0)->set_dictionary("uki-B"); });
  // A dictionary must be an earlier artifact: not itself, not a later one, not a missing one.
  expect("ZSTD_PREFIX dictionary is not an earlier boot artifact",
         [](Manifest& m) { m.mutable_boot_artifacts(1)->set_dictionary("uki-B"); });
  expect("boot artifact 0: ZSTD_PREFIX dictionary is not an earlier", [](Manifest& m) {
    m.mutable_boot_artifacts(0)->set_encoding(BootArtifact::ZSTD_PREFIX);
    m.mutable_boot_artifacts(0)->set_dictionary("uki-B");
  });
  expect("boot artifact 1: unknown encoding 9", [](Manifest& m) {
    m.mutable_boot_artifacts(1)->set_encoding(static_cast<BootArtifact::Encoding>(9));
  });
  expect("boot artifact 0: data length 0 is outside",
         [](Manifest& m) { m.mutable_boot_artifacts(0)->set_data_length(0); });
  // Data follows the operations' and each other's, inside the blob area.
  expect("boot artifact 0: data offset 0 is not 100",
         [](Manifest& m) { m.mutable_boot_artifacts(0)->set_data_offset(0); });
  expect("boot artifact 1: data offset 100 is not 150",
         [](Manifest& m) { m.mutable_boot_artifacts(1)->set_data_offset(100); });
  expect("hold 200 data bytes but the blob area is 199 bytes",
         [](Manifest& m) { m.set_blobs_size(199); });
  expect("hold 200 data bytes but the blob area is 201 bytes",
         [](Manifest& m) { m.set_blobs_size(201); });
  const Manifest m = WithUkis();
  EXPECT_EQ(FindBootArtifact(m, UkiArtifactName("B")), &m.boot_artifacts(1));
  EXPECT_EQ(FindBootArtifact(ValidManifest(), "uki-B"), nullptr);
}

TEST(PayloadLz4, LegacyStreamRoundTripsOverSeveralBlocks) {
  auto data = Bytes(kLz4LegacyBlockBytes * 2 + 12345, 7, true);
  auto c = Lz4LegacyCompress(data, 9, 2);
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_LT(c->size(), data.size() / 2);
  // The legacy layout: magic, then [size][block] three times.
  EXPECT_EQ(std::vector<uint8_t>(c->begin(), c->begin() + 4),
            (std::vector<uint8_t>{0x02, 0x21, 0x4c, 0x18}));
  std::vector<uint8_t> out(data.size());
  ASSERT_TRUE(Lz4LegacyDecompress(*c, out).has_value());
  EXPECT_EQ(out, data);
  // The same bytes whatever the thread count, so recompression is reproducible.
  auto one = Lz4LegacyCompress(data, 9, 1);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(*one, *c);
}

TEST(PayloadLz4, MalformedStreamsAreRefusedByName) {
  auto data = Bytes(100000, 8, true);
  auto c = Lz4LegacyCompress(data, 4);
  ASSERT_TRUE(c.has_value());
  std::vector<uint8_t> out(data.size());
  auto expect = [&](std::vector<uint8_t> stream, size_t out_size, std::string_view what) {
    std::vector<uint8_t> o(out_size);
    auto s = Lz4LegacyDecompress(stream, o);
    ASSERT_FALSE(s.has_value()) << "accepted; wanted: " << what;
    EXPECT_NE(s.error().message().find(what), std::string::npos) << s.error().message();
  };
  auto bad_magic = *c;
  bad_magic[0] ^= 1;
  expect(bad_magic, data.size(), "bad magic");
  expect(std::vector<uint8_t>(c->begin(), c->end() - 1), data.size(), "claims");
  auto appended = *c;
  appended.push_back(0);
  expect(appended, data.size(), "1 bytes after the last block");
  expect(*c, data.size() + 1, "does not decode to");
  expect(*c, 0, "outside 1..");
  auto corrupt = *c;
  corrupt[c->size() / 2] ^= 0xff;
  std::vector<uint8_t> o(data.size());
  if (Lz4LegacyDecompress(corrupt, o).has_value()) {
    EXPECT_NE(o, data) << "a corrupted block decoded to the original";
  }
}

// A minimal bzImage: boot protocol header, LZ4 stream, size, trailer.
std::vector<uint8_t> BzImage(std::span<const uint8_t> stream, uint32_t size) {
  std::vector<uint8_t> f(2048 + 256, 0x90);
  f[0x1f1] = 3;
  std::memcpy(f.data() + 0x202, "HdrS", 4);
  f[0x206] = 0x0f;
  f[0x207] = 0x02;
  auto put = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i)
      f[at + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  put(0x248, 256);
  put(0x24c, static_cast<uint32_t>(stream.size() + 4));
  const size_t at = f.size();
  f.resize(at + stream.size() + 4 + 777, 0xcc);
  std::memcpy(f.data() + at, stream.data(), stream.size());
  put(at + stream.size(), size);
  return f;
}

TEST(PayloadLz4, FindsAndReproducesABzImagePayload) {
  auto vmlinux = Bytes(300000, 9, true);
  auto stream = Lz4LegacyCompress(vmlinux, 12);
  ASSERT_TRUE(stream.has_value());
  auto file = BzImage(*stream, static_cast<uint32_t>(vmlinux.size()));
  auto r = FindBzImageLz4(file);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->offset, 2304u);
  EXPECT_EQ(r->compressed_length, stream->size());
  EXPECT_EQ(r->decompressed_length, vmlinux.size());
  auto expanded = ExpandLz4Region(file, *r);
  ASSERT_TRUE(expanded.has_value()) << expanded.error().message();
  EXPECT_EQ(expanded->size(), file.size() - stream->size() + vmlinux.size());
  EXPECT_TRUE(std::equal(vmlinux.begin(), vmlinux.end(), expanded->begin() + 2304));
  auto level = FindReproducingLevel(
      file, *r, std::span(*expanded).subspan(r->offset, r->decompressed_length));
  ASSERT_TRUE(level.has_value());
  EXPECT_EQ(*level, 12);
  r->level = *level;
  auto back = ContractLz4Region(*expanded, *r);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, file);
  // Another level gives another stream, which contraction reports rather than returns.
  r->level = 3;
  auto wrong = ContractLz4Region(*expanded, *r);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(wrong.error().message().find("not the"), std::string::npos) << wrong.error().message();
  // Not kernels: no header, an old boot protocol, a payload that is not LZ4.
  auto no_hdr = file;
  no_hdr[0x202] = 'X';
  EXPECT_FALSE(FindBzImageLz4(no_hdr).has_value());
  auto old_proto = file;
  old_proto[0x206] = 0x07;
  EXPECT_FALSE(FindBzImageLz4(old_proto).has_value());
  auto gzip = file;
  gzip[2304] = 0x1f;
  EXPECT_FALSE(FindBzImageLz4(gzip).has_value());
  EXPECT_FALSE(FindBzImageLz4(std::span(file).first(0x240)).has_value());
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
  // Code removed and added further on, as recompiled code has: control entries that copy no
  // extra bytes while the extra block still holds data for later ones.
  for (size_t at = 140000; at > 60000; at -= 20000) {
    new_data.erase(new_data.begin() + at, new_data.begin() + at + 64);
    new_data.insert(new_data.begin() + at - 10000, {9, 8, 7});
  }
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

  // The same patch as BSDIFFXZ: same result, and each format refuses the other's magic.
  auto xz = BsdiffToXz(patch, 6);
  ASSERT_TRUE(xz.has_value()) << xz.error().message();
  EXPECT_EQ(std::string(xz->begin(), xz->begin() + 8), "BSDIFFXZ");
  std::vector<uint8_t> out_xz(new_data.size());
  s = ApplyBsdiffXz(old_data, *xz, out_xz);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  EXPECT_EQ(out_xz, new_data);
  EXPECT_FALSE(ApplyBsdiff(old_data, *xz, out).has_value());
  s = ApplyBsdiffXz(old_data, patch, out_xz);
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message().find("expected BSDIFFXZ"), std::string::npos)
      << s.error().message();
  EXPECT_FALSE(ApplyBsdiffXz(old_data, *xz, wrong_size).has_value());
  auto bad_xz = *xz;
  bad_xz[bad_xz.size() - 20] ^= 0x10;
  s = ApplyBsdiffXz(old_data, bad_xz, out_xz);
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message().find("xz"), std::string::npos) << s.error().message();
  EXPECT_FALSE(ApplyBsdiffXz(old_data, std::span(*xz).first(xz->size() - 1), out_xz).has_value());
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
