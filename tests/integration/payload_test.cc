// End-to-end payload tests on real erofs + dm-verity images: round trips, the tamper matrix,
// signature policy, kill -9 and resume, bounded memory. Peers: mkfs.erofs, veritysetup.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "common/hex.h"
#include "common/keyring.h"
#include "common/log.h"
#include "common/signing.h"
#include "file_map.h"
#include "integration/payload_fixture.h"
#include "payload/applier.h"
#include "payload/format.h"
#include "payload/generator.h"
#include "payload/gzip_region.h"
#include "payload/reader.h"

extern char** environ;

namespace basalt::payload {
namespace {

using testing::BuildImage;
using testing::MakeKey;
using testing::RandomBytes;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

class NullLogger : public Logger {
 public:
  void Log(LogLevel, std::string_view, const std::vector<LogField>&) override {}
};

std::string Basalt() {
  const char* dir = getenv("BASALT_BIN_DIR");
  return std::string(dir ? dir : "out/default/bin") + "/basalt";
}

// Old and new trees with the changes a real update has: modified, added, removed, renamed
// files, a kernel version bump and a library upgrade.
void MakeTrees(const std::string& old_tree, const std::string& new_tree) {
  std::string tool = RandomBytes(300000, 1);
  std::string lib = RandomBytes(400000, 2, true);
  std::string ko = RandomBytes(120000, 3) + RandomBytes(80000, 4, true);
  std::string dep = RandomBytes(30000, 5, true);
  std::string doc = RandomBytes(100000, 6, true);
  std::string moved = RandomBytes(150000, 7);
  WriteFile(old_tree + "/bin/tool", tool);
  WriteFile(old_tree + "/lib/libfoo.so.1.2.3", lib);
  WriteFile(old_tree + "/lib/modules/6.1.0-10-amd64/kernel/drivers/a.ko", ko);
  WriteFile(old_tree + "/lib/modules/6.1.0-10-amd64/modules.dep", dep);
  WriteFile(old_tree + "/share/doc/readme", doc);
  WriteFile(old_tree + "/share/removed.txt", RandomBytes(50000, 8, true));
  WriteFile(old_tree + "/share/zeros", std::string(1 << 20, '\0'));
  WriteFile(old_tree + "/share/old-name.dat", moved);
  std::string vmlinux = RandomBytes(3 << 20, 11, true);
  const std::string stub = RandomBytes(5000, 12);
  WriteFile(old_tree + "/lib/modules/6.1.0-10-amd64/vmlinuz",
            testing::MakeLz4BzImage(vmlinux, stub));

  std::string tool2 = tool;
  for (size_t i = 100000; i < 100400; ++i)
    tool2[i] = static_cast<char>(tool2[i] ^ 0x5a);
  tool2 += RandomBytes(20000, 9);
  std::string lib2 = lib.substr(0, 200000) + "new symbol table entry" + lib.substr(200000);
  std::string ko2 = ko;
  ko2.replace(5000, 16, "6.1.0-11-amd64  ");
  WriteFile(new_tree + "/bin/tool", tool2);
  WriteFile(new_tree + "/lib/libfoo.so.1.2.4", lib2);
  WriteFile(new_tree + "/lib/modules/6.1.0-11-amd64/kernel/drivers/a.ko", ko2);
  WriteFile(new_tree + "/lib/modules/6.1.0-11-amd64/modules.dep", dep + "extra\n");
  WriteFile(new_tree + "/share/doc/readme", doc);
  WriteFile(new_tree + "/share/added.txt", RandomBytes(60000, 10, true));
  WriteFile(new_tree + "/share/zeros", std::string(1 << 20, '\0'));
  WriteFile(new_tree + "/share/new-name.dat", moved);
  // A recompiled kernel: small changes early on, so its LZ4 stream differs from there on.
  vmlinux.replace(300000, 12, "6.1.0-11 SMP");
  vmlinux.insert(1 << 20, RandomBytes(3000, 13));
  WriteFile(new_tree + "/lib/modules/6.1.0-11-amd64/vmlinuz",
            testing::MakeLz4BzImage(vmlinux, stub));

  // Debian's gzip'd documentation: a changelog that grew by new entries at the top (data blocks
  // plus a tail erofs keeps inline), and two small manual pages wholly inline in the metadata,
  // all as `gzip -9n` makes them; once gzip'd, every byte after the change differs.
  auto gz = [](const std::string& text) {
    auto c = GzipCompress(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 9);
    EXPECT_TRUE(c.has_value()) << c.error().message();
    return c ? std::string(c->begin(), c->end()) : std::string();
  };
  // Hosts rebuild gzip'd files with the gzip of the image they update from; the generator
  // only does so when that gzip is this machine's.
  const std::string gzip_tool = ReadFile(kGzipTool);
  WriteFile(old_tree + "/bin/gzip", gzip_tool);
  WriteFile(new_tree + "/bin/gzip", gzip_tool);
  const std::string changelog = RandomBytes(200000, 14, true);
  const std::string man1 = RandomBytes(3000, 15, true), man2 = RandomBytes(2500, 16, true);
  WriteFile(old_tree + "/share/doc/pkg/changelog.Debian.gz", gz(changelog));
  WriteFile(old_tree + "/share/man/man1/one.1.gz", gz(man1));
  WriteFile(old_tree + "/share/man/man1/two.1.gz", gz(man2));
  WriteFile(new_tree + "/share/doc/pkg/changelog.Debian.gz",
            gz(RandomBytes(3000, 17, true) + changelog));
  WriteFile(new_tree + "/share/man/man1/one.1.gz", gz(man1 + ".SH BUGS\nnone\n"));
  WriteFile(new_tree + "/share/man/man1/two.1.gz", gz("updated " + man2));
}

struct Shared {
  TempDir dir;
  std::string old_img, new_img;  // image directories
  std::string keys, trust;
  std::string full, delta;  // payload paths
  GenerateResult full_result, delta_result;
};
Shared* g_shared = nullptr;

class PayloadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string missing = testing::MissingTool({"mkfs.erofs", "veritysetup"});
    if (!missing.empty()) return;
    g_shared = new Shared;
    Shared& s = *g_shared;
    MakeTrees(s.dir / "old-tree", s.dir / "new-tree");
    s.old_img = s.dir / "old";
    s.new_img = s.dir / "new";
    BuildImage(s.dir / "old-tree", s.old_img, "1.0.0");
    BuildImage(s.dir / "new-tree", s.new_img, "1.1.0");
    s.keys = s.dir / "keys";
    s.trust = s.dir / "trust";
    MakeKey("k1", s.keys, s.trust);
    MakeKey("k2", s.keys, s.trust);
    MakeKey("untrusted", s.keys, "");
    NullLogger log;
    GenerateOptions o;
    o.new_image_dir = s.new_img;
    o.output_path = s.full = s.dir / "full.payload";
    o.keys = {s.keys + "/k1.pem"};
    o.zstd_level = 3;
    o.chunk_size = 64 << 10;
    auto full = GeneratePayload(o, log);
    ASSERT_TRUE(full.has_value()) << full.error().message();
    s.full_result = *full;
    o.old_image_dir = s.old_img;
    if (testing::MissingTool({"bsdiff"}).empty()) o.bsdiff = GenerateOptions::Bsdiff::kAll;
    o.output_path = s.delta = s.dir / "delta.payload";
    auto delta = GeneratePayload(o, log);
    ASSERT_TRUE(delta.has_value()) << delta.error().message();
    s.delta_result = *delta;
  }
  static void TearDownTestSuite() {
    delete g_shared;
    g_shared = nullptr;
  }
  void SetUp() override {
    std::string missing = testing::MissingTool({"mkfs.erofs", "veritysetup"});
    if (!missing.empty()) GTEST_SKIP() << missing << " is not installed";
    ASSERT_NE(g_shared, nullptr);
    auto ring = Keyring::LoadDirectory(g_shared->trust);
    ASSERT_TRUE(ring.has_value());
    keyring_ = std::move(*ring);
  }

  // Builds t/old and t/new from t/old-tree and t/new-tree; options for a delta between them
  // into t/delta.payload.
  GenerateOptions TreeDeltaOptions(const TempDir& t) {
    BuildImage(t / "old-tree", t / "old", "1.0.0");
    BuildImage(t / "new-tree", t / "new", "1.1.0");
    GenerateOptions o;
    o.old_image_dir = t / "old";
    o.new_image_dir = t / "new";
    o.output_path = t / "delta.payload";
    o.keys = {s().keys + "/k1.pem"};
    return o;
  }
  void ExpectRebuildRefused(Operation::Type type,
                            const std::function<void(Operation&)>& break_level);

  Result<ApplyResult> Apply(const std::string& payload, const std::string& target,
                            std::optional<std::string> source = std::nullopt, size_t threshold = 1,
                            bool create_target = true) {
    auto src = FilePayloadSource::Open(payload);
    if (!src) return std::unexpected(src.error());
    ApplyOptions opt;
    opt.target_path = target;
    opt.create_target = create_target;
    opt.source_path = source;
    opt.keyring = &*keyring_;
    opt.threshold = threshold;
    return ApplyPayload(**src, opt, log_);
  }

  Shared& s() { return *g_shared; }
  std::optional<Keyring> keyring_;
  NullLogger log_;
};

std::string Pattern(size_t n) {
  std::string p(n, '\0');
  for (size_t i = 0; i < n; ++i)
    p[i] = static_cast<char>(0xA5 ^ (i >> 12));
  return p;
}

void ExpectVeritysetupAccepts(const std::string& img, const std::string& image_dir) {
  auto j = nlohmann::json::parse(ReadFile(image_dir + "/image.json"));
  EXPECT_EQ(testing::Run(fmt::format("veritysetup verify --hash-offset={} {} {} {}",
                                     j["usr"]["hash_offset"].get<uint64_t>(), img, img,
                                     j["usr"]["root_hash"].get<std::string>())),
            0);
}

TEST_F(PayloadTest, FullRoundTripIsByteIdentical) {
  EXPECT_FALSE(s().full_result.is_delta);
  EXPECT_EQ(s().full_result.ops.count("SOURCE_COPY"), 0u);
  EXPECT_GT(s().full_result.ops["ZERO"].count, 0u);
  EXPECT_GT(s().full_result.ops["REPLACE_ZSTD"].count + s().full_result.ops["REPLACE_XZ"].count,
            0u);
  TempDir t;
  auto r = Apply(s().full, t / "slot.img");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(ReadFile(t / "slot.img"), ReadFile(s().new_img + "/usr.img"));
  EXPECT_EQ(r->version, "1.1.0");
  ExpectVeritysetupAccepts(t / "slot.img", s().new_img);
}

// Issue 18 (7): a slot's device path that does not exist (a missing /dev/disk/by-partuuid link)
// is an error; the applier no longer creates a file there (O_CREAT) to write the slot into.
TEST_F(PayloadTest, MissingTargetIsNotCreated) {
  TempDir t;
  auto r = Apply(s().full, t / "by-partuuid-link", std::nullopt, 1, /*create_target=*/false);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind(), ErrorKind::kNotFound);
  EXPECT_NE(r.error().message().find("by-partuuid-link does not exist"), std::string::npos)
      << r.error().message();
  EXPECT_FALSE(std::filesystem::exists(t / "by-partuuid-link"));
}

TEST_F(PayloadTest, DeltaRoundTripIsByteIdentical) {
  const auto& d = s().delta_result;
  EXPECT_TRUE(d.is_delta);
  EXPECT_EQ(d.from_version, "1.0.0");
  EXPECT_GT(d.ops.at("SOURCE_COPY").count, 0u);
  EXPECT_EQ(d.ops.at("SOURCE_LZ4_PATCH").count, 1u);  // the kernel
  EXPECT_GE(d.ops.count("SOURCE_GZIP_PATCH"), 1u) << "the gzip'd files are not diffed as such";
  EXPECT_LT(d.size * 3, s().full_result.size) << "delta should be far smaller than full";
  TempDir t;
  // A block-device-like target: pre-existing content that must be fully replaced.
  WriteFile(t / "slot.img", Pattern(std::filesystem::file_size(s().new_img + "/usr.img")));
  auto r = Apply(s().delta, t / "slot.img", s().old_img + "/usr.img");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_TRUE(r->is_delta);
  EXPECT_EQ(ReadFile(t / "slot.img"), ReadFile(s().new_img + "/usr.img"));
  ExpectVeritysetupAccepts(t / "slot.img", s().new_img);
}

TEST_F(PayloadTest, DeltaWithWrongSourceFailsBeforeWriting) {
  TempDir t;
  const std::string before = Pattern(std::filesystem::file_size(s().new_img + "/usr.img"));
  WriteFile(t / "slot.img", before);
  // The new image is not the delta's base.
  auto r = Apply(s().delta, t / "slot.img", s().new_img + "/usr.img");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(IsSourceMismatch(r.error())) << r.error().message();
  EXPECT_NE(r.error().message().find("not the image this delta was made from"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(ReadFile(t / "slot.img"), before);
  // A corrupted old slot: one flipped byte.
  std::string old = ReadFile(s().old_img + "/usr.img");
  old[old.size() / 2] ^= 1;
  WriteFile(t / "corrupt-old.img", old);
  r = Apply(s().delta, t / "slot.img", t / "corrupt-old.img");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(IsSourceMismatch(r.error())) << r.error().message();
  EXPECT_EQ(ReadFile(t / "slot.img"), before);
  // No source at all.
  r = Apply(s().delta, t / "slot.img");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("--source"), std::string::npos) << r.error().message();
  EXPECT_EQ(ReadFile(t / "slot.img"), before);
}

// What the target must hold after a refused apply that stopped before operation `k`.
std::string ExpectedAfter(const std::string& pattern, const std::string& new_image,
                          const Partition& part, int k) {
  std::string out = pattern;
  for (int i = 0; i < k; ++i) {
    for (const auto& e : part.operations(i).dst_extents()) {
      size_t off = e.start_block() * kBlockSize, len = e.num_blocks() * kBlockSize;
      out.replace(off, len, new_image.substr(off, len));
    }
  }
  return out;
}

TEST_F(PayloadTest, TamperMatrixIsRefusedWithoutWritingUnverifiedData) {
  for (const std::string& which : {std::string("full"), std::string("delta")}) {
    SCOPED_TRACE(which);
    const bool delta = which == "delta";
    const std::string payload = ReadFile(delta ? s().delta : s().full);
    const std::string new_image = ReadFile(s().new_img + "/usr.img");
    MemoryPayloadSource head_src(
        std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
    auto head = ReadHead(head_src, &*keyring_, 1);
    ASSERT_TRUE(head.has_value()) << head.error().message();
    const Partition& part = head->manifest.partitions(0);
    const uint64_t blobs = head->header.blobs_offset();
    const std::string pattern = Pattern(new_image.size());

    struct Case {
      std::string name;
      std::string bytes;
      int ops_before;  // operations allowed to have completed
      bool streaming = false;
    };
    std::vector<Case> cases;
    auto flip = [&](size_t pos) {
      std::string t = payload;
      t[pos] = static_cast<char>(t[pos] ^ 0x01);
      return t;
    };
    for (size_t i = 0; i < kHeaderSize; ++i) {
      cases.push_back({fmt::format("header byte {}", i), flip(i), 0});
    }
    for (size_t i = kHeaderSize; i < kHeaderSize + head->header.manifest_size;
         i += std::max<size_t>(1, head->header.manifest_size / 40)) {
      cases.push_back({fmt::format("manifest byte {}", i), flip(i), 0});
    }
    for (size_t i = kHeaderSize + head->header.manifest_size; i < blobs; ++i) {
      cases.push_back({fmt::format("signature block byte {}", i), flip(i), 0});
    }
    for (int k = 0; k < part.operations_size(); ++k) {
      const auto& op = part.operations(k);
      if (op.data_length() == 0) continue;
      cases.push_back({fmt::format("blob of operation {} ({})", k, OperationTypeName(op.type())),
                       flip(blobs + op.data_offset() + op.data_length() / 2), k});
      cases.push_back({fmt::format("last byte of blob {}", k),
                       flip(blobs + op.data_offset() + op.data_length() - 1), k});
    }
    cases.push_back({"truncated by one byte", payload.substr(0, payload.size() - 1), 0});
    cases.push_back({"truncated in the manifest", payload.substr(0, kHeaderSize + 5), 0});
    cases.push_back({"truncated to the header", payload.substr(0, kHeaderSize), 0});
    cases.push_back({"one byte appended", payload + "x", 0});
    cases.push_back({"a block appended", payload + std::string(4096, '\0'), 0});
    // Streams of unknown length: truncation shows only when the data runs out, so the operations
    // whose (verified) data came before the cut may complete; appended data is noticed after
    // the last operation and the result is refused.
    int mid = part.operations_size() / 2;
    while (mid < part.operations_size() && part.operations(mid).data_length() == 0)
      ++mid;
    ASSERT_LT(mid, part.operations_size());
    cases.push_back({"stream truncated inside a blob",
                     payload.substr(0, blobs + part.operations(mid).data_offset() + 3), mid, true});
    cases.push_back({"stream with data appended", payload + "junk", part.operations_size(), true});

    for (const Case& c : cases) {
      SCOPED_TRACE(c.name);
      TempDir t;
      WriteFile(t / "slot.img", pattern);
      MemoryPayloadSource src(
          std::span(reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size()),
          !c.streaming);
      ApplyOptions opt;
      opt.target_path = t / "slot.img";
      if (delta) opt.source_path = s().old_img + "/usr.img";
      opt.keyring = &*keyring_;
      auto r = ApplyPayload(src, opt, log_);
      if (r.has_value()) {
        // Flipping an unsigned bit that the format ignores would be a hole; none exists.
        ADD_FAILURE() << "tampered payload was accepted";
        continue;
      }
      EXPECT_FALSE(r.error().message().empty());
      EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
      std::string got = ReadFile(t / "slot.img");
      std::string want = ExpectedAfter(pattern, new_image, part, c.ops_before);
      // Failing at a blob may leave ops before it done, never any other byte changed.
      if (got != want) {
        size_t first = 0;
        while (first < got.size() && got[first] == want[first])
          ++first;
        ADD_FAILURE() << "target differs at byte " << first << ": " << r.error().message();
      }
    }
  }
}

// Rewrites the signature block of a payload.
std::string Resign(const std::string& payload, const std::vector<Signature>& sigs) {
  auto h = DecodeHeader(std::span(reinterpret_cast<const uint8_t*>(payload.data()), kHeaderSize));
  EXPECT_TRUE(h.has_value());
  auto block = EncodeSignatures(sigs);
  Header nh = *h;
  nh.signatures_size = static_cast<uint32_t>(block.size());
  auto hb = EncodeHeader(nh);
  return std::string(hb.begin(), hb.end()) + payload.substr(kHeaderSize, h->manifest_size) +
         std::string(block.begin(), block.end()) + payload.substr(h->blobs_offset());
}

Signature SignPayload(const std::string& payload, const std::string& key_path) {
  auto key = PrivateKey::Load(key_path);
  EXPECT_TRUE(key.has_value());
  auto h = DecodeHeader(std::span(reinterpret_cast<const uint8_t*>(payload.data()), kHeaderSize));
  auto msg = SignedMessage(
      std::span(reinterpret_cast<const uint8_t*>(payload.data()), kHeaderSize),
      std::span(reinterpret_cast<const uint8_t*>(payload.data()) + kHeaderSize, h->manifest_size));
  auto sig = key->Sign(msg);
  EXPECT_TRUE(sig.has_value());
  return Signature{key->id(), *sig};
}

TEST_F(PayloadTest, SignaturePolicy) {
  const std::string payload = ReadFile(s().full);
  Signature k1 = SignPayload(payload, s().keys + "/k1.pem");
  Signature k2 = SignPayload(payload, s().keys + "/k2.pem");
  Signature untrusted = SignPayload(payload, s().keys + "/untrusted.pem");
  Signature forged = untrusted;
  forged.key_id = k1.key_id;  // claims to be a trusted key
  struct Case {
    std::string name;
    std::string bytes;
    size_t threshold;
    bool ok;
    std::string message;
  };
  std::string no_sig_block = payload;
  {
    Header h = *DecodeHeader(std::span(reinterpret_cast<const uint8_t*>(payload.data()), 32));
    auto hb = EncodeHeader(Header{h.format_version, h.minor_version, h.manifest_size, 0});
    no_sig_block = std::string(hb.begin(), hb.end()) +
                   payload.substr(kHeaderSize, h.manifest_size) + payload.substr(h.blobs_offset());
  }
  std::vector<Case> cases = {
      {"signed by an untrusted key", Resign(payload, {untrusted}), 1, false, "not trusted"},
      {"wrong key under a trusted key id", Resign(payload, {forged}), 1, false, "invalid"},
      {"no signature block", no_sig_block, 1, false, "no signature"},
      {"empty signature list", Resign(payload, {}), 1, false, "no signature"},
      {"threshold 2, one signature", Resign(payload, {k1}), 2, false, "2 required"},
      {"threshold 2, same key twice", Resign(payload, {k1, k1}), 2, false, "2 required"},
      {"threshold 2, untrusted second", Resign(payload, {k1, untrusted}), 2, false, "2 required"},
      {"threshold 2 met", Resign(payload, {untrusted, k2, k1}), 2, true, ""},
      {"rotation: old untrusted + new trusted", Resign(payload, {untrusted, k2}), 1, true, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir t;
    WriteFile(t / "p", c.bytes);
    WriteFile(t / "slot.img", "");
    auto r = Apply(t / "p", t / "slot.img", std::nullopt, c.threshold);
    EXPECT_EQ(r.has_value(), c.ok) << (r ? "" : r.error().message());
    if (!c.ok && !r) {
      EXPECT_NE(r.error().message().find(c.message), std::string::npos) << r.error().message();
      EXPECT_EQ(std::filesystem::file_size(t / "slot.img"), 0u) << "target touched";
    }
    if (c.ok && r) {
      EXPECT_EQ(ReadFile(t / "slot.img"), ReadFile(s().new_img + "/usr.img"));
    }
  }
}

// A host whose compressor works differently from the generator's (liblz4 for the kernel, gzip
// for documentation): simulated by a payload, validly signed, in which the first operation of
// `type` names a level that does not reproduce its stream. The recompressed bytes are checked
// before they are written, and the error is the one the daemon falls back to the full payload
// on.
void PayloadTest::ExpectRebuildRefused(Operation::Type type,
                                       const std::function<void(Operation&)>& break_level) {
  const std::string payload = ReadFile(s().delta);
  MemoryPayloadSource head_src(
      std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
  auto head = ReadHead(head_src, &*keyring_, 1);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->header.minor_version, kMinorDelta4);
  Manifest m = head->manifest;
  int k = -1;
  for (int i = 0; i < m.partitions(0).operations_size() && k < 0; ++i) {
    if (m.partitions(0).operations(i).type() == type) k = i;
  }
  ASSERT_GE(k, 0) << "the delta has no " << OperationTypeName(type);
  break_level(*m.mutable_partitions(0)->mutable_operations(k));
  const std::string mb = m.SerializeAsString();
  Header h = head->header;
  h.manifest_size = mb.size();
  auto hb = EncodeHeader(h);
  // The old signature block as a placeholder of the right size; Resign replaces it.
  const std::string tmp =
      std::string(hb.begin(), hb.end()) + mb +
      payload.substr(kHeaderSize + head->header.manifest_size, head->header.signatures_size) +
      payload.substr(head->header.blobs_offset());
  const std::string bad = Resign(tmp, {SignPayload(tmp, s().keys + "/k1.pem")});
  TempDir t;
  const std::string new_image = ReadFile(s().new_img + "/usr.img");
  const std::string pattern = Pattern(new_image.size());
  WriteFile(t / "slot.img", pattern);
  WriteFile(t / "p", bad);
  auto r = Apply(t / "p", t / "slot.img", s().old_img + "/usr.img");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(IsSourceMismatch(r.error())) << r.error().message();
  EXPECT_NE(r.error().message().find("cannot be rebuilt on this host"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(ReadFile(t / "slot.img"), ExpectedAfter(pattern, new_image, m.partitions(0), k));
}

TEST_F(PayloadTest, KernelThatDoesNotRecompressHereIsRefusedBeforeWriting) {
  ExpectRebuildRefused(Operation::SOURCE_LZ4_PATCH,
                       [](Operation& op) { op.mutable_dst_lz4()->set_level(12); });
}

TEST_F(PayloadTest, GzipFileThatDoesNotRecompressHereIsRefusedBeforeWriting) {
  ExpectRebuildRefused(Operation::SOURCE_GZIP_PATCH, [](Operation& op) {
    for (auto& r : *op.mutable_dst_gzip())
      r.set_level(r.level() == 9 ? 1 : 9);
  });
}

// The hosts rebuild gzip'd files with the old image's /usr/bin/gzip: without one, or with
// another build than the generator's, gzip'd files are diffed compressed, and the delta still
// round-trips.
TEST_F(PayloadTest, GzipPatchNeedsTheOldImagesGzipToBeThisMachines) {
  TempDir t;
  auto gz = [](const std::string& text) {
    auto c = GzipCompress(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 9);
    EXPECT_TRUE(c.has_value());
    return c ? std::string(c->begin(), c->end()) : std::string();
  };
  const std::string text = RandomBytes(100000, 31, true);
  WriteFile(t / "old-tree/share/doc/x/changelog.gz", gz(text));
  WriteFile(t / "new-tree/share/doc/x/changelog.gz", gz(RandomBytes(2000, 32, true) + text));
  const std::string gzip_tool = ReadFile(kGzipTool);
  for (const std::string& old_gzip : {std::string(), gzip_tool + "rebuilt", gzip_tool}) {
    SCOPED_TRACE(old_gzip.empty() ? "no gzip" : old_gzip == gzip_tool ? "same gzip" : "other");
    std::filesystem::remove_all(t / "old");
    std::filesystem::remove_all(t / "new");
    std::filesystem::remove(t / "old-tree/bin/gzip");
    if (!old_gzip.empty()) WriteFile(t / "old-tree/bin/gzip", old_gzip);
    GenerateOptions o = TreeDeltaOptions(t);
    auto d = GeneratePayload(o, log_);
    ASSERT_TRUE(d.has_value()) << d.error().message();
    EXPECT_EQ(d->ops.count("SOURCE_GZIP_PATCH"), old_gzip == gzip_tool ? 1u : 0u);
    auto r = Apply(t / "delta.payload", t / "slot.img", t / "old/usr.img");
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(ReadFile(t / "slot.img"), ReadFile(t / "new/usr.img"));
    std::filesystem::remove(t / "slot.img");
  }
}

// Recompiled code, where every address moved: bsdiff's approximate matches beat zstd's exact
// ones on the expanded kernel, so its patch is BSDIFF_XZ (minor version 4), and it applies.
TEST_F(PayloadTest, KernelOfMovedAddressesIsBsdiffedExpanded) {
  if (auto missing = testing::MissingTool({"bsdiff"}); !missing.empty()) {
    GTEST_SKIP() << missing << " is not installed";
  }
  auto code = [](uint32_t base) {
    std::string v;
    std::mt19937 rng(41);
    for (uint32_t i = 0; i < (1 << 18); ++i) {
      const uint32_t word =
          (rng() % 4 == 0) ? base + (rng() % 65536) * 16 : 0xe8000000u | (i % 251);
      for (int k = 0; k < 4; ++k)
        v.push_back(static_cast<char>(word >> (8 * k)));
    }
    return v;
  };
  TempDir t;
  // What follows the stream keeps it out of the file's inline tail, as in Debian's bzImages
  // (the operation covers the file's blocks).
  const std::string stub = RandomBytes(5000, 12);
  WriteFile(t / "old-tree/lib/modules/6.1.0-1/vmlinuz",
            testing::MakeLz4BzImage(code(0x80000000u), stub));
  WriteFile(t / "new-tree/lib/modules/6.1.0-2/vmlinuz",
            testing::MakeLz4BzImage(code(0x80002340u), stub));
  GenerateOptions o = TreeDeltaOptions(t);
  auto d = GeneratePayload(o, log_);
  ASSERT_TRUE(d.has_value()) << d.error().message();
  const std::string payload = ReadFile(t / "delta.payload");
  MemoryPayloadSource src(
      std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
  auto head = ReadHead(src, &*keyring_, 1);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->header.minor_version, kMinorDelta4);
  int kernels = 0;
  for (const auto& op : head->manifest.partitions(0).operations()) {
    if (op.type() != Operation::SOURCE_LZ4_PATCH) continue;
    ++kernels;
    EXPECT_EQ(op.expanded_patch(), Operation::BSDIFF_XZ);
  }
  EXPECT_EQ(kernels, 1);
  auto r = Apply(t / "delta.payload", t / "slot.img", t / "old/usr.img");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(ReadFile(t / "slot.img"), ReadFile(t / "new/usr.img"));
  // With minor version 3 as the ceiling the same kernel is a zstd patch.
  o.max_minor_version = kMinorDelta3;
  auto d3 = GeneratePayload(o, log_);
  ASSERT_TRUE(d3.has_value()) << d3.error().message();
  EXPECT_GT(d3->size, d->size);
}

// A kernel whose LZ4 stream no liblz4 level reproduces is diffed as it is, and the delta
// still round-trips.
TEST_F(PayloadTest, UnreproducibleKernelIsDiffedCompressed) {
  TempDir t;
  std::string vmlinux = RandomBytes(1 << 20, 21, true);
  // The bytes after the stream keep it out of the file's inline tail, so the stream is found
  // and it is the level search that fails.
  const std::string stub = RandomBytes(5000, 12);
  WriteFile(t / "old-tree/lib/modules/6.1.0-1/vmlinuz", testing::MakeLz4BzImage(vmlinux, stub, 0));
  vmlinux.replace(1000, 8, "changed!");
  WriteFile(t / "new-tree/lib/modules/6.1.0-2/vmlinuz", testing::MakeLz4BzImage(vmlinux, stub, 0));
  GenerateOptions o = TreeDeltaOptions(t);
  o.zstd_level = 3;
  auto d = GeneratePayload(o, log_);
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->ops.count("SOURCE_LZ4_PATCH"), 0u);
  auto r = Apply(t / "delta.payload", t / "slot.img", t / "old/usr.img");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(ReadFile(t / "slot.img"), ReadFile(t / "new/usr.img"));
}

TEST_F(PayloadTest, NewerMinorVersionIsRefusedClearly) {
  std::string payload = ReadFile(s().full);
  payload[12] = 9;  // minor version 9
  TempDir t;
  WriteFile(t / "p", payload);
  auto r = Apply(t / "p", t / "slot.img");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind(), ErrorKind::kUnsupported);
  EXPECT_NE(r.error().message().find("minor version 9"), std::string::npos) << r.error().message();
  // For a delta, the daemon's cue to take the full payload (which a newer build farm still
  // makes at a minor version old hosts know).
  EXPECT_TRUE(IsSourceMismatch(r.error())) << r.error().message();
  EXPECT_FALSE(std::filesystem::exists(t / "slot.img"));
}

struct ChildResult {
  int status = -1;
  long maxrss_kib = 0;
  std::string out;
};

// Runs argv with stdout to a file; kills it with SIGKILL after kill_after if given.
ChildResult RunChild(const std::vector<std::string>& argv, const std::string& out_path,
                     std::optional<std::chrono::microseconds> kill_after = std::nullopt) {
  // posix_spawn (vfork semantics), so the child's max RSS is the program's own and not a copy
  // of this test process.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "spawn " << args[0] << ": " << strerror(rc);
    return {};
  }
  if (kill_after) {
    std::this_thread::sleep_for(*kill_after);
    kill(pid, SIGKILL);
  }
  ChildResult r;
  struct rusage ru;
  wait4(pid, &r.status, 0, &ru);
  r.maxrss_kib = ru.ru_maxrss;
  r.out = ReadFile(out_path);
  return r;
}

TEST_F(PayloadTest, KillNineAtRandomPointsThenResumeIsIdentical) {
  const std::string want = ReadFile(s().new_img + "/usr.img");
  TempDir t;
  auto args = [&](const std::string& target, const std::string& state) {
    return std::vector<std::string>{Basalt(),
                                    "payload",
                                    "apply",
                                    s().delta,
                                    "--source",
                                    s().old_img + "/usr.img",
                                    "--target",
                                    target,
                                    "--keys",
                                    s().trust,
                                    "--state",
                                    state,
                                    "--checkpoint-interval-ms",
                                    "0",
                                    "--json"};
  };
  // Calibrate: one uninterrupted run.
  auto start = std::chrono::steady_clock::now();
  auto full = RunChild(args(t / "cal.img", t / "cal-state"), t / "out");
  auto duration = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(WIFEXITED(full.status) && WEXITSTATUS(full.status) == 0) << full.out;
  ASSERT_EQ(ReadFile(t / "cal.img"), want);

  std::mt19937_64 rng(20261122);
  const auto max_us = std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
  int resumed = 0, killed = 0;
  constexpr int kPoints = 50;
  for (int i = 0; i < kPoints; ++i) {
    SCOPED_TRACE(i);
    const std::string target = t / fmt::format("slot{}.img", i);
    const std::string state = t / fmt::format("state{}", i);
    WriteFile(target, Pattern(want.size()));
    auto first = RunChild(args(target, state), t / "out",
                          std::chrono::microseconds(rng() % static_cast<uint64_t>(max_us + 1)));
    if (WIFSIGNALED(first.status)) ++killed;
    auto second = RunChild(args(target, state), t / "out");
    ASSERT_TRUE(WIFEXITED(second.status) && WEXITSTATUS(second.status) == 0) << second.out;
    auto j = nlohmann::json::parse(second.out);
    if (j["resumed"].get<bool>()) ++resumed;
    ASSERT_EQ(ReadFile(target), want) << "result differs after kill and resume";
    std::filesystem::remove(target);
  }
  RecordProperty("killed", killed);
  RecordProperty("resumed", resumed);
  std::cerr << "kill -9 points: " << kPoints << ", killed mid-run: " << killed
            << ", resumed from a checkpoint: " << resumed << ", identical: " << kPoints << "\n";
  EXPECT_GT(killed, kPoints / 4) << "too few runs were actually interrupted";
  EXPECT_GT(resumed, 0) << "no run resumed from a checkpoint";
}

// The delta is file-aware: read back through `basalt payload inspect --json --operations` and
// the erofs block maps of both images, a modified file's changed blocks are diffed against that
// same file's old blocks (with those of other small files diffed in the same operation) (found by
// path, by version-stripped path and after a kernel version bump), and an unchanged file's blocks
// are source copies.
TEST_F(PayloadTest, DeltaDiffsModifiedFilesAgainstTheirOldVersion) {
  TempDir t;
  auto in =
      RunChild({Basalt(), "payload", "inspect", s().delta, "--json", "--operations"}, t / "o");
  ASSERT_TRUE(WIFEXITED(in.status) && WEXITSTATUS(in.status) == 0) << in.out;
  const auto ops = nlohmann::json::parse(in.out)["partitions"][0]["operation_list"];
  ASSERT_TRUE(ops.is_array());
  std::map<uint64_t, size_t> op_of_block;  // new block -> operation index
  for (size_t i = 0; i < ops.size(); ++i) {
    for (const auto& e : ops[i]["dst_extents"]) {
      for (uint64_t b = 0; b < e[1].get<uint64_t>(); ++b)
        op_of_block[e[0].get<uint64_t>() + b] = i;
    }
  }
  auto files = [](const std::string& image_dir) {
    auto j = nlohmann::json::parse(ReadFile(image_dir + "/image.json"));
    auto list = ListFileBlocks(image_dir + "/usr.img", j["usr"]["hash_offset"].get<uint64_t>());
    EXPECT_TRUE(list.has_value()) << list.error().message();
    std::map<std::string, std::vector<uint64_t>> by_path;
    for (auto& f : *list)
      by_path[f.path] = f.blocks;
    return by_path;
  };
  auto old_files = files(s().old_img);
  auto new_files = files(s().new_img);
  std::set<uint64_t> old_file_blocks;
  for (const auto& [path, blocks] : old_files)
    old_file_blocks.insert(blocks.begin(), blocks.end());
  auto blocks_of = [](const std::map<std::string, std::vector<uint64_t>>& m,
                      const std::string& path) {
    auto it = m.find(path);
    EXPECT_NE(it, m.end()) << path << " not found in the image";
    return it == m.end() ? std::vector<uint64_t>{} : it->second;
  };
  // Every block of `new_path` is written by an operation; the ones not copied verbatim are
  // diffs whose every source block belongs to `old_path`, and there is at least one.
  auto expect_diffed_against = [&](const std::string& new_path, const std::string& old_path) {
    SCOPED_TRACE(new_path);
    auto nb = blocks_of(new_files, new_path);
    auto ob = blocks_of(old_files, old_path);
    std::set<uint64_t> old_set(ob.begin(), ob.end());
    size_t diffed = 0;
    for (uint64_t b : nb) {
      ASSERT_TRUE(op_of_block.count(b)) << "block " << b << " is written by no operation";
      const auto& op = ops[op_of_block[b]];
      const std::string type = op["type"];
      if (type == "SOURCE_COPY") continue;
      EXPECT_TRUE(type == "SOURCE_ZSTD_PATCH" || type == "SOURCE_BSDIFF" ||
                  type == "SOURCE_LZ4_PATCH" || type == "SOURCE_GZIP_PATCH")
          << "block " << b << " is " << type;
      // Small files are diffed in groups: the operation's source holds the old file whole,
      // and nothing but old files' blocks (no anchor windows over metadata).
      std::set<uint64_t> src;
      for (const auto& e : op["src_extents"]) {
        for (uint64_t k = 0; k < e[1].get<uint64_t>(); ++k)
          src.insert(e[0].get<uint64_t>() + k);
      }
      for (uint64_t o : old_set)
        EXPECT_TRUE(src.count(o)) << "old block " << o << " of " << old_path
                                  << " is not in the source of the diff writing block " << b;
      for (uint64_t k : src)
        EXPECT_TRUE(old_file_blocks.count(k)) << "diff source block " << k << " is in no old file";
      ++diffed;
    }
    EXPECT_GT(diffed, 0u) << "no block was diffed";
  };
  expect_diffed_against("/bin/tool", "/bin/tool");                          // same path
  expect_diffed_against("/lib/libfoo.so.1.2.4", "/lib/libfoo.so.1.2.3");    // library upgrade
  expect_diffed_against("/lib/modules/6.1.0-11-amd64/kernel/drivers/a.ko",  // kernel bump
                        "/lib/modules/6.1.0-10-amd64/kernel/drivers/a.ko");
  expect_diffed_against("/lib/modules/6.1.0-11-amd64/vmlinuz",  // LZ4 kernel
                        "/lib/modules/6.1.0-10-amd64/vmlinuz");
  // Small changed files share diff operations (one operation each would cost a manifest entry
  // and a zstd frame apiece): some diff writes the changed blocks of several files.
  {
    std::map<size_t, std::set<std::string>> files_of_op;
    for (const auto& [path, blocks] : new_files) {
      for (uint64_t b : blocks) {
        if (!op_of_block.count(b)) continue;
        const std::string type = ops[op_of_block[b]]["type"];
        if (type == "SOURCE_ZSTD_PATCH" || type == "SOURCE_BSDIFF" || type == "SOURCE_BSDIFF_XZ")
          files_of_op[op_of_block[b]].insert(path);
      }
    }
    size_t shared = 0;
    for (const auto& [op, paths] : files_of_op)
      shared += paths.size() > 1;
    EXPECT_GT(shared, 0u) << "every diff writes a single file";
  }
  // The kernel is one SOURCE_LZ4_PATCH over all of its blocks, far smaller than the
  // compressed kernel (a diff of the LZ4 streams themselves is not: they differ from the first
  // change on).
  {
    auto nb = blocks_of(new_files, "/lib/modules/6.1.0-11-amd64/vmlinuz");
    ASSERT_FALSE(nb.empty());
    ASSERT_TRUE(op_of_block.count(nb[0]));
    const auto& op = ops[op_of_block[nb[0]]];
    EXPECT_EQ(op["type"], "SOURCE_LZ4_PATCH");
    for (uint64_t b : nb)
      EXPECT_EQ(op_of_block[b], op_of_block[nb[0]]) << "block " << b;
    const uint64_t kernel_bytes = nb.size() * kBlockSize;
    EXPECT_LT(op["data_length"].get<uint64_t>() * 20, kernel_bytes)
        << op["data_length"] << " bytes of patch for a " << kernel_bytes << "-byte kernel";
    EXPECT_EQ(op["dst_lz4"]["level"], 9);
    EXPECT_EQ(op["dst_lz4"]["decompressed_length"], (3u << 20) + 3000);
  }
  // The gzip'd files are diffed decompressed: the changelog's blocks belong to one
  // SOURCE_GZIP_PATCH far smaller than the file, and the manual pages (inline in metadata
  // blocks, or with an inline tail) are members of such operations too, by decompressed size.
  {
    auto nb = blocks_of(new_files, "/share/doc/pkg/changelog.Debian.gz");
    ASSERT_FALSE(nb.empty());
    ASSERT_TRUE(op_of_block.count(nb[0]));
    const auto& op = ops[op_of_block[nb[0]]];
    EXPECT_EQ(op["type"], "SOURCE_GZIP_PATCH");
    for (uint64_t b : nb)
      EXPECT_EQ(op_of_block[b], op_of_block[nb[0]]) << "block " << b;
    const uint64_t file_bytes =
        std::filesystem::file_size(s().dir / "new-tree/share/doc/pkg/changelog.Debian.gz");
    EXPECT_LT(op["data_length"].get<uint64_t>() * 5, file_bytes)
        << op["data_length"] << " bytes of patch for a " << file_bytes << "-byte changelog";
    std::set<uint64_t> members;  // decompressed sizes of all SOURCE_GZIP_PATCH members
    for (const auto& o : ops) {
      if (o["type"] != "SOURCE_GZIP_PATCH") continue;
      for (const auto& r : o["dst_gzip"]) {
        members.insert(r["decompressed_length"].get<uint64_t>());
        EXPECT_EQ(r["level"], 9);
      }
    }
    EXPECT_TRUE(members.count(203000)) << "changelog";
    EXPECT_TRUE(members.count(3014)) << "one.1.gz";
    EXPECT_TRUE(members.count(2508)) << "two.1.gz";
  }
  // Unchanged and renamed files: source copies only.
  for (const std::string path : {"/share/doc/readme", "/share/new-name.dat"}) {
    SCOPED_TRACE(path);
    auto nb = blocks_of(new_files, path);
    EXPECT_FALSE(nb.empty());
    for (uint64_t b : nb) {
      ASSERT_TRUE(op_of_block.count(b));
      EXPECT_EQ(ops[op_of_block[b]]["type"], "SOURCE_COPY") << "block " << b;
    }
  }
}

TEST_F(PayloadTest, CliVerifyAndInspect) {
  TempDir t;
  auto v =
      RunChild({Basalt(), "payload", "verify", s().delta, "--keys", s().trust, "--json"}, t / "o");
  ASSERT_TRUE(WIFEXITED(v.status) && WEXITSTATUS(v.status) == 0) << v.out;
  auto j = nlohmann::json::parse(v.out);
  EXPECT_EQ(j["kind"], "delta");
  EXPECT_EQ(j["signers"].size(), 1u);

  std::string bad = ReadFile(s().delta);
  bad[bad.size() - 10] ^= 0x40;
  WriteFile(t / "bad", bad);
  auto b = RunChild({Basalt(), "payload", "verify", t / "bad", "--keys", s().trust}, t / "o");
  EXPECT_TRUE(WIFEXITED(b.status) && WEXITSTATUS(b.status) == 4);  // kExitIntegrity

  auto in = RunChild({Basalt(), "payload", "inspect", s().delta, "--json"}, t / "o");
  ASSERT_TRUE(WIFEXITED(in.status) && WEXITSTATUS(in.status) == 0) << in.out;
  auto ij = nlohmann::json::parse(in.out);
  EXPECT_EQ(ij["header"]["minor_version"], kMinorDelta4);
  EXPECT_EQ(ij["from_version"], "1.0.0");
  const auto& ops = ij["partitions"][0]["operations"];
  for (const auto& [name, st] : s().delta_result.ops) {
    EXPECT_EQ(ops[name]["count"].get<uint64_t>(), st.count) << name;
    EXPECT_EQ(ops[name]["data_bytes"].get<uint64_t>(), st.data_bytes) << name;
  }
}

TEST_F(PayloadTest, StreamsLargePayloadInBoundedMemory) {
  TempDir t;
  constexpr size_t kImage = 160 << 20;
  WriteFile(t / "tree/big.bin", RandomBytes(kImage, 42));
  BuildImage(t / "tree", t / "img", "2.0");
  std::filesystem::remove(t / "tree/big.bin");
  GenerateOptions o;
  o.new_image_dir = t / "img";
  o.output_path = t / "big.payload";
  o.keys = {s().keys + "/k1.pem"};
  o.zstd_level = 1;
  o.try_xz = false;
  auto g = GeneratePayload(o, log_);
  ASSERT_TRUE(g.has_value()) << g.error().message();
  // Through /usr/bin/time: a child's ru_maxrss would include this test process's own high-water
  // mark, which exec inherits.
  ASSERT_EQ(testing::MissingTool({"/usr/bin/time"}), "");
  auto r = RunChild({"/usr/bin/time", "-f", "%M", "-o", t / "rss", Basalt(), "payload", "apply",
                     t / "big.payload", "--target", t / "slot.img", "--keys", s().trust, "--json"},
                    t / "o");
  ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
  r.maxrss_kib = std::stol(ReadFile(t / "rss"));
  auto j = nlohmann::json::parse(r.out);
  const uint64_t peak = j["peak_buffer_bytes"].get<uint64_t>();
  // The applier's buffers for 2 MiB operations, plus the hashing thread's five 1 MiB copies of
  // written bytes (four waiting, one being hashed) and the verity digests it keeps (32 bytes
  // per 4 KiB block).
  constexpr uint64_t kBound = (8 << 20) + (5 << 20) + kImage / 4096 * 32;
  EXPECT_LE(peak, kBound);
  EXPECT_GE(g->size, 10 * kBound) << "payload must be much larger than the bound";
  std::cerr << "payload " << g->size << " bytes, applier buffers peak " << peak
            << " bytes, process max RSS " << r.maxrss_kib << " KiB\n";
#if !defined(__SANITIZE_ADDRESS__)
  // Whole process, binary and libraries included (ASan's shadow and quarantine would measure
  // the sanitizer instead, so this is checked in the plain build).
  EXPECT_LT(r.maxrss_kib, 40 * 1024);
#endif
  EXPECT_EQ(testing::Run(fmt::format("cmp -s {} {}", t / "slot.img", t / "img/usr.img")), 0);

  // The same payload through a pipe (a stream of unknown length, like an HTTP body): same
  // result, same bound.
  auto p =
      RunChild({"/bin/sh", "-c",
                fmt::format("cat {} | /usr/bin/time -f %M -o {} {} payload apply - --target "
                            "{} --keys {} --json",
                            t / "big.payload", t / "rss2", Basalt(), t / "slot2.img", s().trust)},
               t / "o2");
  ASSERT_TRUE(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0) << p.out;
  EXPECT_LE(nlohmann::json::parse(p.out)["peak_buffer_bytes"].get<uint64_t>(), kBound);
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(std::stol(ReadFile(t / "rss2")), 32 * 1024);
#endif
  EXPECT_EQ(testing::Run(fmt::format("cmp -s {} {}", t / "slot2.img", t / "img/usr.img")), 0);
}

}  // namespace
}  // namespace basalt::payload
