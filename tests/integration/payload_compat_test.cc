// Payloads made by an earlier generator (tests/fixtures/payload/README.md): today's applier must
// apply them, and today's generator, given the same images, options and key, must write them
// again byte for byte. The payload format is a contract with hosts already in the field.
#include <gtest/gtest.h>
#include <lz4.h>
#include <lzma.h>
#include <zstd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/hash.h"
#include "common/hex.h"
#include "common/keyring.h"
#include "common/log.h"
#include "common/subprocess.h"
#include "integration/payload_fixture.h"
#include "payload/applier.h"
#include "payload/codec.h"
#include "payload/generator.h"
#include "payload/gzip_region.h"
#include "payload/reader.h"

namespace basalt::payload {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

class NullLogger : public Logger {
 public:
  void Log(LogLevel, std::string_view, const std::vector<LogField>&) override {}
};

std::string FixtureDir() {
  const char* src = getenv("BASALT_SOURCE_DIR");
  return std::string(src ? src : ".") + "/tests/fixtures/payload";
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string FileSha256(const std::string& path) {
  auto d = Sha256File(path);
  return d ? ToHex(*d) : "(" + d.error().message() + ")";
}

// The codecs and tools the payload bytes depend on, as toolchain.txt lists them.
std::map<std::string, std::string> HostToolchain() {
  std::map<std::string, std::string> t;
  t["libzstd"] = ZSTD_versionString();
  t["liblzma"] = lzma_version_string();
  t["liblz4"] = LZ4_versionString();
  t["gzip"] = FileSha256(kGzipTool);
  auto bsdiff = FindProgram("bsdiff");
  t["bsdiff"] = bsdiff ? FileSha256(*bsdiff) : "(not installed)";
  return t;
}

// "" when this machine has the fixture's toolchain, else what differs.
std::string ToolchainDifference() {
  std::istringstream in(ReadFile(FixtureDir() + "/toolchain.txt"));
  const auto host = HostToolchain();
  std::string name, value, diff;
  size_t n = 0;
  while (in >> name >> value) {
    ++n;
    auto it = host.find(name);
    const std::string here = it == host.end() ? "(unknown)" : it->second;
    if (here != value) diff += fmt::format("{} is {} here, {} in the fixture; ", name, here, value);
  }
  if (n != host.size()) diff += "toolchain.txt does not list what this test checks";
  return diff;
}

struct ImageDir {
  std::string dir;
  nlohmann::json json;
};

// The fixture's image directory `name` with its usr.img decompressed, under `root`.
ImageDir Unpack(const std::string& name, const std::string& root) {
  ImageDir out;
  out.dir = root + "/" + name;
  const std::string json = ReadFile(FixtureDir() + "/" + name + "/image.json");
  out.json = nlohmann::json::parse(json);
  WriteFile(out.dir + "/image.json", json);
  const std::string xz = ReadFile(FixtureDir() + "/" + name + "/usr.img.xz");
  std::string img(out.json["usr"]["size"].get<uint64_t>(), '\0');
  auto s =
      XzDecompressExact(Bytes(xz), std::span(reinterpret_cast<uint8_t*>(img.data()), img.size()));
  EXPECT_TRUE(s.has_value()) << s.error().message();
  WriteFile(out.dir + "/usr.img", img);
  return out;
}

struct Fixture {
  TempDir dir;
  ImageDir old_img, new_img;
};
Fixture* g_fixture = nullptr;

class PayloadCompatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_fixture = new Fixture;
    g_fixture->old_img = Unpack("old", g_fixture->dir.path());
    g_fixture->new_img = Unpack("new", g_fixture->dir.path());
  }
  static void TearDownTestSuite() {
    delete g_fixture;
    g_fixture = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(FixtureDir() + "/full.payload"))
        << FixtureDir() << " not found (BASALT_SOURCE_DIR)";
    auto ring = Keyring::LoadDirectory(FixtureDir() + "/trust");
    ASSERT_TRUE(ring.has_value()) << ring.error().message();
    keyring_ = std::move(*ring);
  }

  const Fixture& f() { return *g_fixture; }

  // Applies the fixture's `name` to a target pre-filled with other bytes (as a slot is), and
  // checks the result is the new image.
  void ExpectApplies(const std::string& name, bool delta) {
    TempDir t;
    const std::string target = t / "slot.img";
    const std::string want = ReadFile(f().new_img.dir + "/usr.img");
    WriteFile(target, std::string(want.size(), '\x5a'));
    auto src = FilePayloadSource::Open(FixtureDir() + "/" + name);
    ASSERT_TRUE(src.has_value()) << src.error().message();
    ApplyOptions opt;
    opt.target_path = target;
    if (delta) opt.source_path = f().old_img.dir + "/usr.img";
    opt.keyring = &*keyring_;
    auto r = ApplyPayload(**src, opt, log_);
    if (!r && IsSourceMismatch(r.error()) && !ToolchainDifference().empty()) {
      GTEST_SKIP() << "this machine cannot rebuild what " << name
                   << " recompresses: " << ToolchainDifference() << r.error().message();
    }
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(r->is_delta, delta);
    EXPECT_EQ(r->version, "1.1.0");
    EXPECT_EQ(ToHex(r->root_hash), f().new_img.json["usr"]["root_hash"].get<std::string>());
    EXPECT_EQ(ToHex(r->partition_sha256), f().new_img.json["usr"]["sha256"].get<std::string>());
    EXPECT_TRUE(ReadFile(target) == want) << name << " did not produce the new image";
  }

  // Generates with `o` (images, key and the fixture's creation time filled in) and compares
  // with the fixture's `name`.
  void ExpectRegenerates(const std::string& name, GenerateOptions o) {
    if (auto diff = ToolchainDifference(); !diff.empty()) {
      GTEST_SKIP() << "the payload bytes depend on codecs that differ here: " << diff;
    }
    const std::string fixture = FixtureDir() + "/" + name;
    auto src = FilePayloadSource::Open(fixture);
    ASSERT_TRUE(src.has_value()) << src.error().message();
    auto head = ReadHead(**src, &*keyring_, 1);
    ASSERT_TRUE(head.has_value()) << head.error().message();
    TempDir t;
    o.new_image_dir = f().new_img.dir;
    o.output_path = t / name;
    o.keys = {FixtureDir() + "/key.pem"};
    o.created = head->manifest.created();
    auto r = GeneratePayload(o, log_);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    const std::string want = ReadFile(fixture), got = ReadFile(o.output_path);
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << name << " is not reproduced byte for byte (size " << got.size()
                             << ", the fixture's " << want.size() << ")";
    EXPECT_EQ(ToHex(r->sha256), ToHex(Sha256(Bytes(want))));
  }

  // The operation types of the fixture's `name`, so the fixture keeps covering what its
  // README says.
  std::map<std::string, int> OperationTypes(const std::string& name) {
    std::map<std::string, int> types;
    auto src = FilePayloadSource::Open(FixtureDir() + "/" + name);
    if (!src) return types;
    auto head = ReadHead(**src, &*keyring_, 1);
    EXPECT_TRUE(head.has_value()) << head.error().message();
    if (!head) return types;
    for (const auto& op : head->manifest.partitions(0).operations())
      ++types[std::string(OperationTypeName(op.type()))];
    return types;
  }

  std::optional<Keyring> keyring_;
  NullLogger log_;
};

TEST_F(PayloadCompatTest, FixturesCoverTheOperationTypes) {
  auto full = OperationTypes("full.payload");
  for (const char* t : {"REPLACE", "REPLACE_ZSTD", "ZERO"})
    EXPECT_GT(full[t], 0) << "full.payload has no " << t;
  auto delta = OperationTypes("delta.payload");
  for (const char* t : {"SOURCE_COPY", "SOURCE_ZSTD_PATCH", "SOURCE_BSDIFF_XZ", "SOURCE_LZ4_PATCH",
                        "SOURCE_GZIP_PATCH", "ZERO"})
    EXPECT_GT(delta[t], 0) << "delta.payload has no " << t;
  auto minor2 = OperationTypes("delta-minor2.payload");
  for (const char* t : {"SOURCE_COPY", "SOURCE_ZSTD_PATCH", "SOURCE_BSDIFF", "ZERO"})
    EXPECT_GT(minor2[t], 0) << "delta-minor2.payload has no " << t;
}

TEST_F(PayloadCompatTest, FullPayloadApplies) {
  ExpectApplies("full.payload", false);
}

TEST_F(PayloadCompatTest, DeltaApplies) {
  ExpectApplies("delta.payload", true);
}

TEST_F(PayloadCompatTest, MinorVersion2DeltaApplies) {
  ExpectApplies("delta-minor2.payload", true);
}

TEST_F(PayloadCompatTest, GeneratorReproducesFullPayload) {
  GenerateOptions o;
  o.chunk_size = 16 << 10;
  ExpectRegenerates("full.payload", o);
}

TEST_F(PayloadCompatTest, GeneratorReproducesDelta) {
  GenerateOptions o;
  o.old_image_dir = f().old_img.dir;
  ExpectRegenerates("delta.payload", o);
}

TEST_F(PayloadCompatTest, GeneratorReproducesMinorVersion2Delta) {
  GenerateOptions o;
  o.old_image_dir = f().old_img.dir;
  o.max_minor_version = 2;
  ExpectRegenerates("delta-minor2.payload", o);
}

}  // namespace
}  // namespace basalt::payload
