// Shared fixtures for the repository tests: signed documents made with real keys, an in-memory
// metadata source, and image build outputs written the way `basalt image build` writes them.
#pragma once

#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/base64.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/keyring.h"
#include "common/signing.h"
#include "repo/channel.h"
#include "repo/decision.h"
#include "repo/dsse.h"
#include "repo/release.h"
#include "test_util.h"

namespace basalt::repo::testing {

inline std::string Hex64(char c) {
  return std::string(64, c);
}

inline TimePoint T0() {
  return *ParseTime("2026-11-22T00:00:00Z", "t");
}

inline PrivateKey NewKey() {
  auto k = PrivateKey::Generate(KeyType::kEd25519);
  EXPECT_TRUE(k.has_value());
  return *k;
}

inline std::string Sign(std::string_view type, std::string_view body, const PrivateKey& key) {
  std::vector<PrivateKey> keys = {key};
  auto env = SignEnvelope(type, body, keys);
  EXPECT_TRUE(env.has_value());
  return *env;
}

inline PayloadRef Full(const std::string& version, uint64_t size = 1000) {
  PayloadRef p;
  p.kind = PayloadKind::kFull;
  p.url = "releases/" + version + "/full.payload";
  p.size = size;
  p.sha256 = Hex64('1');
  return p;
}

inline PayloadRef Delta(const std::string& version, const std::string& from, char from_root) {
  PayloadRef p;
  p.kind = PayloadKind::kDelta;
  p.from_version = from;
  p.from_root_hash = Hex64(from_root);
  p.url = "releases/" + version + "/delta-from-" + from + ".payload";
  p.size = 100;
  p.sha256 = Hex64('2');
  return p;
}

inline Release MakeRelease(const std::string& version, char root) {
  Release r;
  r.version = version;
  r.created = T0();
  r.usr.root_hash = Hex64(root);
  r.usr.salt = "00ff";
  r.usr.data_size = 4096 * 10;
  r.usr.hash_offset = 4096 * 10;
  r.kernel.version = "6.1.0-28-amd64";
  r.kernel.sha256 = Hex64('3');
  r.payloads.push_back(Full(version));
  r.sbom_sha256 = Hex64('4');
  r.input_digest = "sha256:" + Hex64('5');
  return r;
}

inline Channel MakeChannel(const std::string& release) {
  Channel c;
  c.name = "stable";
  c.metadata_version = 5;
  c.expires = T0() + std::chrono::days(7);
  c.release = release;
  return c;
}

// Serves envelopes from maps, like a repository would.
class MapSource : public MetadataSource {
 public:
  std::map<std::string, std::string, std::less<>> channels;
  std::map<std::string, std::string, std::less<>> releases;

  Result<std::string> FetchChannel(std::string_view name) override {
    auto it = channels.find(name);
    if (it == channels.end()) return Failf(ErrorKind::kNotFound, "no channel {}", name);
    return it->second;
  }
  Result<std::string> FetchRelease(std::string_view version) override {
    auto it = releases.find(version);
    if (it == releases.end()) return Failf(ErrorKind::kNotFound, "no release {}", version);
    return it->second;
  }
};

// Writes an image build output directory as the image branch's agreed image.json describes.
inline void WriteImageDir(const std::filesystem::path& dir, const std::string& version, char root) {
  std::filesystem::create_directories(dir);
  std::string sbom = "{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"basalt-" + version + "\"}\n";
  std::ofstream(dir / "sbom.spdx.json") << sbom;
  std::ofstream(dir / "usr.img") << "usr image of " << version;
  nlohmann::json j = {
      {"version", version},
      {"os_name", "basalt-test"},
      {"usr",
       {{"root_hash", Hex64(root)},
        {"salt", "a1b2c3d4"},
        {"uuid", "12345678-1234-1234-1234-123456789abc"},
        {"hash_algorithm", "sha256"},
        {"data_block_size", 4096},
        {"hash_block_size", 4096},
        {"data_blocks", 256},
        {"hash_offset", 1048576},
        {"size", 1064960},
        {"filesystem", "erofs"},
        {"sha256", Hex64('6')}}},
      {"kernel", {{"version", "6.1.0-28-amd64"}, {"sha256", Hex64('7')}, {"path", "vmlinuz"}}},
      {"disk", {{"size", 0}, {"sha256", Hex64('8')}}},
      {"input_digest", "sha256:" + Hex64('9')},
      {"input_kind", "directory"},
      {"sbom", {{"path", "sbom.spdx.json"}, {"sha256", ToHex(Sha256(sbom))}}},
      {"builder", {{"name", "basalt"}, {"version", "0.1.0"}}},
      {"source_date_epoch", 1700000000},
      {"seed", "test"},
      {"timings_ms", nlohmann::json::object()}};
  std::ofstream(dir / "image.json") << j.dump(2);
}

inline std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteAll(const std::filesystem::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

using basalt::testing::TempDir;

}  // namespace basalt::repo::testing

#include "common/log.h"
#include "repo/image_info.h"
#include "repo/publish.h"

namespace basalt::repo::testing {

// Stands in for update-engine/payload's generator in unit tests only: writes recognisable
// bytes and reports them the way GeneratePayload does.
class FakePayloadMaker : public PayloadMaker {
 public:
  int calls = 0;
  bool fail = false;
  Result<MadePayload> Make(const PayloadRequest& req, Logger&) override {
    ++calls;
    if (fail) return Fail(ErrorKind::kIo, "fake generator failure");
    auto img = LoadImageInfo(req.new_image_dir);
    if (!img) return std::unexpected(img.error());
    MadePayload m;
    m.to_version = img->version;
    std::string data = "BASALT-PAYLOAD to " + img->version;
    if (req.old_image_dir) {
      auto old = LoadImageInfo(*req.old_image_dir);
      if (!old) return std::unexpected(old.error());
      m.is_delta = true;
      m.from_version = old->version;
      m.from_root_hash = old->usr_root_hash;
      data += " from " + old->version;
    }
    data += std::string(req.old_image_dir ? 3000 : 20000, 'x');
    WriteAll(req.output_path, data);
    m.path = req.output_path;
    m.size = data.size();
    m.sha256 = Sha256(data);
    return m;
  }
};

class NullLogger : public Logger {
 public:
  void Log(LogLevel, std::string_view, const std::vector<LogField>&) override {}
};

}  // namespace basalt::repo::testing
