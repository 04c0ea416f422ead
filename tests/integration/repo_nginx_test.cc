// A repository built by the `basalt` CLI, served by a real nginx on 127.0.0.1, read by the
// host-side fetcher (libcurl) and decision API: good data is accepted, each tampered variant
// is refused, Range requests resume downloads, and `basalt channel show` / `repo verify`
// explain and check what is served.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "cli/cli.h"
#include "http/fetcher.h"
#include "integration/nginx_server.h"
#include "repo/repo_source.h"
#include "unit/repo_test_payload.h"
#include "unit/repo_test_util.h"

namespace basalt::repo {
namespace {
using namespace testing;
namespace fs = std::filesystem;

struct CliResult {
  int rc = -1;
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Everything the suite shares: built once, since publishing and starting nginx cost time.
struct Env {
  TempDir tmp;
  fs::path basalt;
  fs::path www() const { return fs::path(tmp.path()) / "www"; }
  fs::path good() const { return www() / "good"; }
  std::string key;  // private key path
  fs::path trust;
  int port = 0;
  pid_t nginx = -1;
  std::unique_ptr<basalt::testing::NginxServer> server;
  std::string base_url;
  std::string v1_channel;
  TimePoint wave_start{};

  CliResult Run(const std::vector<std::string>& args) {
    std::string cmd = Quote(basalt.string());
    for (const auto& a : args)
      cmd += " " + Quote(a);
    fs::path out = fs::path(tmp.path()) / "cli.out", err = fs::path(tmp.path()) / "cli.err";
    cmd += " >" + Quote(out.string()) + " 2>" + Quote(err.string());
    int status = std::system(cmd.c_str());
    CliResult r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadAll(out);
    r.err = ReadAll(err);
    return r;
  }
};

Env* env = nullptr;

bool StartNginx(Env& e) {
  e.server = basalt::testing::NginxServer::Start(e.www().string(),
                                                 (fs::path(e.tmp.path()) / "nginx").string());
  if (!e.server) return false;
  e.port = e.server->port();
  e.nginx = e.server->pid();
  return true;
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng());
  return s;
}

// A real image build output: usr.img is 1 MiB of data blocks with a dm-verity tree appended by
// veritysetup itself, so the payload generator and the root hashes are the genuine article.
bool WriteRealImageDir(const fs::path& dir, const std::string& version, const std::string& data,
                       std::string* error) {
  fs::create_directories(dir);
  fs::path usr = dir / "usr.img";
  WriteAll(usr, data);
  std::string cmd = fmt::format(
      "veritysetup format --data-blocks={} --hash-offset={} --salt={} "
      "--uuid=12345678-1234-1234-1234-123456789abc {} {} 2>&1",
      data.size() / 4096, data.size(), std::string(64, 'd'), usr.string(), usr.string());
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p != nullptr && std::fgets(buf, sizeof(buf), p) != nullptr)
    out += buf;
  if (p == nullptr || ::pclose(p) != 0) {
    *error = "veritysetup format failed: " + out;
    return false;
  }
  size_t at = out.find("Root hash:");
  if (at == std::string::npos) {
    *error = "no root hash in: " + out;
    return false;
  }
  std::string root = out.substr(at + 10);
  root.erase(0, root.find_first_not_of(" \t"));
  root = root.substr(0, 64);
  std::string sbom = "{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"" + version + "\"}\n";
  WriteAll(dir / "sbom.spdx.json", sbom);
  std::string img = ReadAll(usr);
  nlohmann::json j = {
      {"version", version},
      {"os_name", "basalt-test"},
      {"usr",
       {{"root_hash", root},
        {"salt", std::string(64, 'd')},
        {"uuid", "12345678-1234-1234-1234-123456789abc"},
        {"hash_algorithm", "sha256"},
        {"data_block_size", 4096},
        {"hash_block_size", 4096},
        {"data_blocks", data.size() / 4096},
        {"hash_offset", data.size()},
        {"size", img.size()},
        {"filesystem", "erofs"},
        {"sha256", ToHex(Sha256(img))}}},
      {"kernel", {{"version", "6.1.0-28-amd64"}, {"sha256", Hex64('7')}, {"path", "vmlinuz"}}},
      {"disk", {{"size", 0}, {"sha256", Hex64('8')}}},
      {"input_digest", "sha256:" + ToHex(Sha256(version))},
      {"input_kind", "directory"},
      {"sbom", {{"path", "sbom.spdx.json"}, {"sha256", ToHex(Sha256(sbom))}}},
      {"builder", {{"name", "basalt"}, {"version", "0.1.0"}}},
      {"source_date_epoch", 1700000000},
      {"seed", "test"},
      {"timings_ms", nlohmann::json::object()}};
  WriteAll(dir / "image.json", j.dump(2));
  return true;
}

class NginxRepoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (basalt::testing::NginxServer::Binary().empty()) return;
    env = new Env;
    const char* bin = std::getenv("BASALT_BIN_DIR");
    ASSERT_NE(bin, nullptr) << "BASALT_BIN_DIR is set by ctest";
    env->basalt = fs::path(bin) / "basalt";
    Env& e = *env;
    fs::path t = e.tmp.path();

    CliResult gen = e.Run({"keys", "generate", "--output", (t / "keys").string(), "--json"});
    ASSERT_EQ(gen.rc, 0) << gen.err;
    auto info = nlohmann::json::parse(gen.out);
    e.key = info["private"];
    EXPECT_EQ(fs::status(e.key).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    e.trust = t / "trust";
    fs::create_directories(e.trust);
    fs::copy_file(info["public"].get<std::string>(), e.trust / "release.pem");

    // Three releases with multi-MiB payloads, so Range requests have room.
    const std::pair<const char*, char> versions[] = {
        {"1.0.0", 'a'}, {"1.5.0", 'c'}, {"2.0.0", 'b'}};
    uint64_t seed = 1;
    auto signer = PrivateKey::Load(e.key);
    ASSERT_TRUE(signer.has_value()) << signer.error().message();
    for (auto [v, root] : versions) {
      WriteImageDir(t / v, v, root);
      WriteAll(t / (std::string(v) + ".payload"),
               MakeTestPayload(ForImage(v, root), *signer, 3 << 20, seed++));
      CliResult pub =
          e.Run({"release", "publish", "--repo", e.good().string(), "--image-dir", (t / v).string(),
                 "--key", e.key, "--payload", (t / (std::string(v) + ".payload")).string()});
      ASSERT_EQ(pub.rc, 0) << pub.err;
    }
    auto set = [&](const std::string& channel, std::vector<std::string> extra) {
      std::vector<std::string> args = {"channel"};
      args.insert(args.end(), extra.begin(), extra.end());
      args.insert(args.end(), {"--repo", e.good().string(), "--channel", channel, "--key", e.key});
      CliResult r = e.Run(args);
      ASSERT_EQ(r.rc, 0) << r.err;
    };
    set("stable", {"set", "--release", "1.5.0"});
    e.v1_channel = ReadAll(e.good() / "channels/stable.json");
    set("stable", {"set", "--release", "2.0.0"});
    set("stable", {"floor", "--release", "1.5.0"});
    e.wave_start = Now() + std::chrono::hours(1);
    set("staged",
        {"set", "--release", "2.0.0", "--start", FormatTime(e.wave_start), "--duration", "10h"});
    set("rolled", {"set", "--release", "2.0.0"});
    set("rolled", {"rollback", "--release", "1.5.0"});
    set("held", {"set", "--release", "2.0.0"});
    set("held", {"pause"});

    CliResult verify =
        e.Run({"repo", "verify", "--repo", e.good().string(), "--keys", e.trust.string()});
    ASSERT_EQ(verify.rc, 0) << verify.out << verify.err;

    // End to end with the real payload generator: full payloads and a delta.
    std::string v1 = RandomBytes(1 << 20, 7);
    std::string v2 = v1;
    for (size_t i = 0; i < v2.size(); i += 64 * 1024)
      v2[i] ^= 0x5a;  // a few changed blocks
    std::string err;
    ASSERT_TRUE(WriteRealImageDir(t / "real-1.0.0", "1.0.0", v1, &err)) << err;
    ASSERT_TRUE(WriteRealImageDir(t / "real-2.0.0", "2.0.0", v2, &err)) << err;
    fs::path real = e.www() / "real";
    CliResult p1 = e.Run({"release", "publish", "--repo", real.string(), "--image-dir",
                          (t / "real-1.0.0").string(), "--key", e.key});
    ASSERT_EQ(p1.rc, 0) << p1.err;
    CliResult p2 = e.Run({"release", "publish", "--repo", real.string(), "--image-dir",
                          (t / "real-2.0.0").string(), "--delta-from", (t / "real-1.0.0").string(),
                          "--key", e.key, "--json"});
    ASSERT_EQ(p2.rc, 0) << p2.err;
    CliResult s2 = e.Run({"channel", "set", "--repo", real.string(), "--channel", "stable",
                          "--release", "2.0.0", "--key", e.key});
    ASSERT_EQ(s2.rc, 0) << s2.err;
    CliResult vr = e.Run({"repo", "verify", "--repo", real.string(), "--keys", e.trust.string()});
    ASSERT_EQ(vr.rc, 0) << vr.out << vr.err;

    MakeVariants();
    ASSERT_TRUE(StartNginx(e)) << ReadAll(t / "nginx/error.log");
    e.base_url = fmt::format("http://127.0.0.1:{}", e.port);
  }

  // One tampered copy of the good repository per attack, served side by side.
  static void MakeVariants() {
    // Variants copy "good" only; "real" already sits in www.
    Env& e = *env;
    auto variant = [&](const std::string& name) {
      fs::copy(e.good(), e.www() / name, fs::copy_options::recursive);
      return e.www() / name;
    };
    fs::path full2 = "releases/2.0.0/full.payload";
    {
      fs::path v = variant("payload-replaced");
      WriteAll(v / full2, RandomBytes(3 << 20, 99));
    }
    {
      fs::path v = variant("payload-inflated");
      WriteAll(v / full2, ReadAll(e.good() / full2) + RandomBytes(1 << 20, 98));
    }
    {
      fs::path v = variant("channel-replayed");
      WriteAll(v / "channels/stable.json", e.v1_channel);
    }
    {
      fs::path v = variant("channel-wrong-key");
      auto evil = PrivateKey::Generate(KeyType::kEcdsaP256);
      ASSERT_TRUE(evil.has_value());
      std::vector<PrivateKey> keys = {*evil};
      auto body = ParseEnvelope(ReadAll(v / "channels/stable.json"))->payload;
      WriteAll(v / "channels/stable.json", *SignEnvelope(kChannelPayloadType, body, keys));
    }
    {
      fs::path v = variant("channel-tampered");
      auto j = nlohmann::json::parse(ReadAll(v / "channels/stable.json"));
      auto body = nlohmann::json::parse(ParseEnvelope(j.dump())->payload);
      body.erase("floor");
      j["payload"] = Base64Encode(body.dump());
      WriteAll(v / "channels/stable.json", j.dump());
    }
    {
      fs::path v = variant("release-mixed");
      fs::copy_file(v / "releases/1.0.0/release.json", v / "releases/1.5.0/release.json",
                    fs::copy_options::overwrite_existing);
    }
  }

  static void TearDownTestSuite() {
    if (env == nullptr) return;
    env->server.reset();
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    if (env == nullptr) GTEST_SKIP() << "nginx is not installed (apt-get install nginx-light)";
    ASSERT_GT(env->nginx, 0);
    ring_ = *Keyring::LoadDirectory(env->trust.string());
  }

  HostState Host(const std::string& version, char root) {
    HostState h;
    h.current_version = version;
    h.current_root_hash = Hex64(root);
    h.machine_id = "5f1ec1d0c0ffee0000000000000000aa";
    h.last_metadata_version = 3;
    h.now = Now();
    return h;
  }
  std::string Url(const std::string& variant) { return env->base_url + "/" + variant; }
  Result<Decision> DecideOver(const std::string& variant, const HostState& h,
                              const std::string& channel = "stable") {
    RepositorySource src(*fetcher_, Url(variant));
    return Decide(ring_, 1, channel, src, h);
  }
  Status Download(const std::string& variant, const PayloadRef& p, const fs::path& dest) {
    RepositorySource src(*fetcher_, Url(variant));
    auto url = src.PayloadUrl(p);
    if (!url) return std::unexpected(url.error());
    return DownloadPayload(*fetcher_, *url, p, dest.string());
  }
  nlohmann::json Show(std::vector<std::string> extra, int expect_rc = 0) {
    std::vector<std::string> args = {"channel",           "show",  "--repo", Url("good"), "--keys",
                                     env->trust.string(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = env->Run(args);
    EXPECT_EQ(r.rc, expect_rc) << r.out << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out << r.err;
    return j;
  }

  Keyring ring_;
  std::unique_ptr<http::Fetcher> fetcher_ = http::MakeCurlFetcher();
};

TEST_F(NginxRepoTest, GoodRepositoryIsAcceptedAndDownloads) {
  auto d = DecideOver("good", Host("1.5.0", 'c'));
  ASSERT_TRUE(d.has_value()) << d.error().message();
  ASSERT_EQ(d->verdict, Verdict::kUpdate) << d->reason;
  EXPECT_EQ(d->version, "2.0.0");
  fs::path dest = fs::path(env->tmp.path()) / "good.payload";
  auto s = Download("good", *d->payload, dest);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  EXPECT_EQ(ReadAll(dest), ReadAll(fs::path(env->tmp.path()) / "2.0.0.payload"));
}

TEST_F(NginxRepoTest, PublishedWithTheRealGeneratorFetchesAndVerifiesEndToEnd) {
  fs::path t = env->tmp.path();
  auto root1 = nlohmann::json::parse(ReadAll(t / "real-1.0.0/image.json"))["usr"]["root_hash"];
  HostState h = Host("1.0.0", 'a');
  h.current_root_hash = root1.get<std::string>();
  h.last_metadata_version.reset();
  for (bool delta : {true, false}) {
    SCOPED_TRACE(delta ? "delta" : "full");
    if (!delta) h.current_root_hash = Hex64('f');  // a host whose /usr differs: full payload
    auto d = DecideOver("real", h);
    ASSERT_TRUE(d.has_value()) << d.error().message();
    ASSERT_EQ(d->verdict, Verdict::kUpdate) << d->reason;
    EXPECT_EQ(d->payload->kind, delta ? PayloadKind::kDelta : PayloadKind::kFull) << d->reason;
    fs::path dest = t / (delta ? "real-delta.payload" : "real-full.payload");
    auto s = Download("real", *d->payload, dest);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    // The payload engine accepts what the repository delivered, signatures and every blob.
    CliResult v = env->Run({"payload", "verify", dest.string(), "--keys", env->trust.string()});
    EXPECT_EQ(v.rc, 0) << v.out << v.err;
  }
}

TEST_F(NginxRepoTest, RangeRequestsReturnTheRequestedBytes) {
  RepositorySource src(*fetcher_, Url("good"));
  std::string url = Url("good") + "/releases/2.0.0/full.payload";
  std::string got;
  std::string data = ReadAll(fs::path(env->tmp.path()) / "2.0.0.payload");
  const uint64_t offset = data.size() - 4093;
  auto sink = [&](std::span<const uint8_t> b) -> Status {
    got.append(reinterpret_cast<const char*>(b.data()), b.size());
    return {};
  };
  auto n = fetcher_->GetRange(url, offset, 4093, sink);
  ASSERT_TRUE(n.has_value()) << n.error().message();
  EXPECT_EQ(*n, 4093u);
  EXPECT_EQ(got, data.substr(offset));
  // The rest of the resource must fit the cap the caller gives.
  got.clear();
  auto over = fetcher_->GetRange(url, offset - 1, 4093, sink);
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().kind(), ErrorKind::kIntegrity);
  EXPECT_NE(ReadAll(fs::path(env->tmp.path()) / "nginx/access.log").find("\" 206 4093 "),
            std::string::npos);
}

TEST_F(NginxRepoTest, InterruptedDownloadResumesWithARangeRequest) {
  auto d = DecideOver("good", Host("1.5.0", 'c'));
  ASSERT_TRUE(d.has_value() && d->verdict == Verdict::kUpdate);
  fs::path dest = fs::path(env->tmp.path()) / "resumed.payload";
  std::string data = ReadAll(fs::path(env->tmp.path()) / "2.0.0.payload");
  WriteAll(dest.string() + ".part", data.substr(0, 2 << 20));
  std::string log_before = ReadAll(fs::path(env->tmp.path()) / "nginx/access.log");
  auto s = Download("good", *d->payload, dest);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  EXPECT_EQ(ReadAll(dest), data);
  std::string log =
      ReadAll(fs::path(env->tmp.path()) / "nginx/access.log").substr(log_before.size());
  // nginx answered 206 Partial Content with only the missing bytes.
  EXPECT_NE(log.find(fmt::format("\"GET /good/releases/2.0.0/full.payload HTTP/1.1\" 206 {}",
                                 data.size() - (2 << 20))),
            std::string::npos)
      << log;
}

TEST_F(NginxRepoTest, EachTamperedVariantIsRefused) {
  struct Case {
    const char* variant;
    const char* code;  // decision refusal, or "" when the download must fail
  } cases[] = {
      {"channel-replayed", "replay"},
      {"channel-wrong-key", "bad-channel-signature"},
      {"channel-tampered", "bad-channel-signature"},
      {"release-mixed", "mix-and-match"},
      {"payload-replaced", ""},
      {"payload-inflated", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.variant);
    // From 1.0.0 the floor sends hosts to 1.5.0; from 1.5.0 they go to 2.0.0.
    HostState h =
        std::string_view(c.variant) == "release-mixed" ? Host("1.0.0", 'a') : Host("1.5.0", 'c');
    auto d = DecideOver(c.variant, h);
    ASSERT_TRUE(d.has_value()) << d.error().message();
    if (*c.code) {
      EXPECT_EQ(d->verdict, Verdict::kRefuse);
      EXPECT_EQ(d->code, c.code) << d->reason;
      continue;
    }
    ASSERT_EQ(d->verdict, Verdict::kUpdate) << d->reason;
    fs::path dest = fs::path(env->tmp.path()) / (std::string(c.variant) + ".payload");
    auto s = Download(c.variant, *d->payload, dest);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().kind(), ErrorKind::kIntegrity) << s.error().message();
    EXPECT_FALSE(fs::exists(dest));
  }
  // Expired metadata, seen from a host whose clock is past the expiry.
  HostState late = Host("1.5.0", 'c');
  late.now = Now() + std::chrono::days(31);
  auto d = DecideOver("good", late);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->code, "expired");
}

TEST_F(NginxRepoTest, MissingFilesAreNotFound) {
  auto d = DecideOver("good", Host("1.0.0", 'a'), "nonexistent");
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().kind(), ErrorKind::kNotFound);
}

TEST_F(NginxRepoTest, ChannelShowExplainsFloorPinWaveRollbackAndPause) {
  // Floor: 1.0.0 must pass through 1.5.0.
  auto j = Show({"--channel", "stable", "--host-version", "1.0.0", "--machine-id", "m1"});
  EXPECT_EQ(j["decision"], "update");
  EXPECT_EQ(j["version"], "1.5.0");
  EXPECT_EQ(j["code"], "floor");
  EXPECT_NE(j["reason"].get<std::string>().find("floor"), std::string::npos);
  EXPECT_EQ(j["payload"]["url"], "releases/1.5.0/full.payload");
  j = Show({"--channel", "stable", "--host-version", "1.5.0", "--machine-id", "m1"});
  EXPECT_EQ(j["decision"], "update");
  EXPECT_EQ(j["version"], "2.0.0");

  // Pin.
  j = Show(
      {"--channel", "stable", "--host-version", "1.0.0", "--machine-id", "m1", "--pin", "1.0.0"});
  EXPECT_EQ(j["decision"], "wait");
  EXPECT_NE(j["reason"].get<std::string>().find("pinned"), std::string::npos);
  j = Show(
      {"--channel", "stable", "--host-version", "1.5.0", "--machine-id", "m1", "--pin", "1.5.0"});
  EXPECT_EQ(j["decision"], "wait");
  EXPECT_EQ(j["code"], "pinned");

  // Wave: before the start nobody; halfway exactly the hosts below 50%; after, everyone.
  j = Show({"--channel", "staged", "--host-version", "1.5.0", "--machine-id", "m1", "--now",
            FormatTime(env->wave_start - std::chrono::minutes(1))});
  EXPECT_EQ(j["decision"], "wait");
  EXPECT_EQ(j["code"], "outside-wave");
  int in = 0, out = 0;
  for (int i = 0; i < 8; ++i) {
    std::string id = fmt::format("machine-{}", i);
    j = Show({"--channel", "staged", "--host-version", "1.5.0", "--machine-id", id, "--now",
              FormatTime(env->wave_start + std::chrono::hours(5))});
    bool expect_in = WavePosition(id, "2.0.0") < 0.5;
    EXPECT_EQ(j["decision"], expect_in ? "update" : "wait") << id << ": " << j.dump();
    (expect_in ? in : out)++;
  }
  EXPECT_GT(in, 0);
  EXPECT_GT(out, 0);
  j = Show({"--channel", "staged", "--host-version", "1.5.0", "--machine-id", "m1", "--now",
            FormatTime(env->wave_start + std::chrono::hours(10))});
  EXPECT_EQ(j["decision"], "update");

  // Rollback: allowed downgrade for hosts on 2.0.0, no-op for hosts already there.
  j = Show({"--channel", "rolled", "--host-version", "2.0.0", "--machine-id", "m1"});
  EXPECT_EQ(j["decision"], "update");
  EXPECT_EQ(j["version"], "1.5.0");
  EXPECT_EQ(j["code"], "rollback");
  j = Show({"--channel", "rolled", "--host-version", "1.5.0", "--machine-id", "m1"});
  EXPECT_EQ(j["decision"], "wait");

  // Pause, and a refusal (expired) with its exit code.
  j = Show({"--channel", "held", "--host-version", "1.5.0", "--machine-id", "m1"});
  EXPECT_EQ(j["decision"], "wait");
  EXPECT_EQ(j["code"], "paused");
  j = Show({"--channel", "stable", "--host-version", "1.5.0", "--machine-id", "m1", "--now",
            "2099-01-01T00:00:00Z"},
           kExitPolicy);
  EXPECT_EQ(j["decision"], "refuse");
  EXPECT_NE(j["reason"].get<std::string>().find("expired"), std::string::npos);

  // Words, not just JSON.
  CliResult words =
      env->Run({"channel", "show", "--repo", Url("good"), "--keys", env->trust.string(),
                "--channel", "stable", "--host-version", "1.0.0", "--machine-id", "m1"});
  EXPECT_EQ(words.rc, 0) << words.err;
  EXPECT_NE(words.out.find("floor 1.5.0"), std::string::npos) << words.out;
  EXPECT_NE(words.out.find("update 1.0.0 -> 1.5.0"), std::string::npos) << words.out;
}

TEST_F(NginxRepoTest, RepoVerifyReportsEachTamperedFile) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(env->good())) {
    fs::path rel = fs::relative(e.path(), env->good());
    // channels/history/ is the operator's record, which hosts never read: not verified.
    if (e.is_regular_file() && !rel.string().starts_with("channels/history/")) {
      files.push_back(rel);
    }
  }
  ASSERT_GE(files.size(), 13u);
  fs::path copy = fs::path(env->tmp.path()) / "verify-copy";
  for (const fs::path& rel : files) {
    SCOPED_TRACE(rel.string());
    fs::remove_all(copy);
    fs::copy(env->good(), copy, fs::copy_options::recursive);
    std::string data = ReadAll(copy / rel);
    data[data.size() / 2] = data[data.size() / 2] == 'Q' ? 'R' : 'Q';
    WriteAll(copy / rel, data);
    CliResult r =
        env->Run({"repo", "verify", "--repo", copy.string(), "--keys", env->trust.string()});
    EXPECT_EQ(r.rc, kExitIntegrity) << r.out << r.err;
    EXPECT_NE(r.err.find(rel.string()), std::string::npos) << r.err;
  }
  // A wrong trust directory fails everything, listing every document.
  fs::path other = fs::path(env->tmp.path()) / "other-trust";
  CliResult gen = env->Run(
      {"keys", "generate", "--output", (fs::path(env->tmp.path()) / "other").string(), "--json"});
  ASSERT_EQ(gen.rc, 0);
  fs::create_directories(other);
  fs::copy_file(nlohmann::json::parse(gen.out)["public"].get<std::string>(), other / "k.pem",
                fs::copy_options::overwrite_existing);
  CliResult r = env->Run(
      {"repo", "verify", "--repo", env->good().string(), "--keys", other.string(), "--json"});
  EXPECT_EQ(r.rc, kExitIntegrity);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["problems"].size(), 3u + 4u) << r.out;  // 3 releases + 4 channels
}

}  // namespace
}  // namespace basalt::repo

namespace basalt::repo {
namespace {

// Keys made by `openssl genpkey` work wherever basalt takes a key, with the same key id
// (SHA-256 of the DER SubjectPublicKeyInfo) that OpenSSL itself computes.
TEST(KeysCli, OpensslGenpkeyKeysHaveTheSameIdAndSign) {
  const char* bin = std::getenv("BASALT_BIN_DIR");
  ASSERT_NE(bin, nullptr);
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "openssl CLI not installed";
  }
  TempDir tmp;
  Env e;  // only for Run(); its nginx is never started
  e.basalt = fs::path(bin) / "basalt";
  const std::pair<const char*, const char*> kinds[] = {
      {"ed25519", "-algorithm ed25519"},
      {"ecdsa-p256", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"},
      {"rsa-pss", "-algorithm RSA -pkeyopt rsa_keygen_bits:3072"},
  };
  for (auto [type, args] : kinds) {
    SCOPED_TRACE(type);
    fs::path key = fs::path(tmp.path()) / (std::string(type) + ".pem");
    fs::path der = fs::path(tmp.path()) / (std::string(type) + ".spki.der");
    std::string cmd = fmt::format(
        "openssl genpkey {} -out {} 2>/dev/null && openssl pkey -in {} -pubout -outform DER "
        "-out {} 2>/dev/null",
        args, key.string(), key.string(), der.string());
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    CliResult show = e.Run({"keys", "show", key.string(), "--json"});
    ASSERT_EQ(show.rc, 0) << show.err;
    auto j = nlohmann::json::parse(show.out);
    EXPECT_EQ(j["key_id"], ToHex(Sha256(ReadAll(der))));
    EXPECT_EQ(j["type"], type);
    EXPECT_EQ(j["private"], true);
    // export-public gives a public key with the same id.
    CliResult pub = e.Run({"keys", "export-public", key.string()});
    ASSERT_EQ(pub.rc, 0) << pub.err;
    auto pk = PublicKey::FromPem(pub.out);
    ASSERT_TRUE(pk.has_value()) << pk.error().message();
    EXPECT_EQ(pk->id(), j["key_id"]);
    // And it signs channel documents a host trusting the exported key accepts.
    fs::path repo = fs::path(tmp.path()) / (std::string(type) + "-repo");
    WriteImageDir(fs::path(tmp.path()) / "img", "1.0.0", 'a');
    auto signer = PrivateKey::Load(key.string());
    ASSERT_TRUE(signer.has_value()) << signer.error().message();
    WriteAll(fs::path(tmp.path()) / "p", MakeTestPayload(ForImage("1.0.0", 'a'), *signer));
    CliResult publish = e.Run({"release", "publish", "--repo", repo.string(), "--image-dir",
                               (fs::path(tmp.path()) / "img").string(), "--key", key.string(),
                               "--payload", (fs::path(tmp.path()) / "p").string()});
    ASSERT_EQ(publish.rc, 0) << publish.err;
    CliResult set = e.Run({"channel", "set", "--repo", repo.string(), "--channel", "lts",
                           "--release", "1.0.0", "--key", key.string()});
    ASSERT_EQ(set.rc, 0) << set.err;
    fs::path trust = fs::path(tmp.path()) / (std::string(type) + "-trust");
    fs::create_directories(trust);
    WriteAll(trust / "k.pem", pub.out);
    CliResult verify = e.Run({"repo", "verify", "--repo", repo.string(), "--keys", trust.string()});
    EXPECT_EQ(verify.rc, 0) << verify.out << verify.err;
  }
}

// The operator's root workflow through the CLI, checked the way hosts check it (`repo verify
// --root-file` with the first root, `channel show --root-file`): init, publish with the release
// key, a document signed by a key of the wrong role refused before publishing, rotation of the
// release key (what the old key signed is now untrusted), revocation of a leaked channel key with
// a replacement, and a tampered root in the chain.
TEST(KeysCli, RootRotationAndRevocationAsHostsSeeThem) {
  const char* bin = std::getenv("BASALT_BIN_DIR");
  ASSERT_NE(bin, nullptr);
  TempDir tmp;
  Env e;  // only for Run(); its nginx is never started
  e.basalt = fs::path(bin) / "basalt";
  const fs::path t = tmp.path();
  std::map<std::string, std::pair<std::string, std::string>> k;  // name -> (private, id)
  for (const char* name : {"root", "rel1", "rel2", "ch1", "ch2"}) {
    CliResult g = e.Run({"keys", "generate", "--output", (t / "keys").string(), "--json"});
    ASSERT_EQ(g.rc, 0) << g.err;
    auto j = nlohmann::json::parse(g.out);
    k[name] = {j["private"].get<std::string>(), j["key_id"].get<std::string>()};
  }
  auto priv = [&](const char* n) { return k[n].first; };
  const fs::path repo = t / "repo";
  CliResult init = e.Run({"keys", "init-root", "--repo", repo.string(), "--repository", "prod",
                          "--root-key", priv("root"), "--release-key", priv("rel1"),
                          "--channel-key", priv("ch1"), "--sign-with", priv("root"), "--json"});
  ASSERT_EQ(init.rc, 0) << init.err;
  EXPECT_EQ(nlohmann::json::parse(init.out)["version"], 1);
  const std::string first = (t / "first-root.json").string();
  fs::copy_file(repo / "roots/1.json", first);

  auto publish = [&](const std::string& version, char root, const char* key) {
    fs::path img = t / ("img-" + version);
    WriteImageDir(img, version, root);
    auto signer = PrivateKey::Load(priv(key));
    EXPECT_TRUE(signer.has_value());
    fs::path p = t / ("p-" + version);
    WriteAll(p, MakeTestPayload(ForImage(version, root), *signer));
    return e.Run({"release", "publish", "--repo", repo.string(), "--image-dir", img.string(),
                  "--key", priv(key), "--payload", p.string()});
  };
  auto verify = [&] {
    return e.Run({"repo", "verify", "--repo", repo.string(), "--root-file", first, "--json"});
  };
  // A channel key cannot publish a release: refused before anything is written.
  CliResult wrong = publish("1.0.0", 'a', "ch1");
  EXPECT_EQ(wrong.rc, kExitPolicy) << wrong.err;
  EXPECT_NE(wrong.err.find("hosts would refuse the document"), std::string::npos) << wrong.err;
  EXPECT_FALSE(fs::exists(repo / "releases/1.0.0"));
  ASSERT_EQ(publish("1.0.0", 'a', "rel1").rc, 0);
  CliResult set = e.Run({"channel", "set", "--repo", repo.string(), "--channel", "stable",
                         "--release", "1.0.0", "--key", priv("ch1")});
  ASSERT_EQ(set.rc, 0) << set.err;
  CliResult ok = verify();
  EXPECT_EQ(ok.rc, 0) << ok.out << ok.err;
  CliResult show = e.Run({"channel", "show", "--repo", repo.string(), "--channel", "stable",
                          "--root-file", first, "--host-version", "0.9.0", "--machine-id",
                          "5f1ec1d0c0ffee0000000000000000aa", "--json"});
  EXPECT_EQ(show.rc, 0) << show.err;
  EXPECT_EQ(nlohmann::json::parse(show.out)["decision"], "update") << show.out;

  // Rotate the release key: release 1.0.0, signed by rel1, is no longer trusted.
  CliResult rot =
      e.Run({"keys", "rotate", "--repo", repo.string(), "--role", "release", "--add", priv("rel2"),
             "--remove", k["rel1"].second, "--sign-with", priv("root"), "--json"});
  ASSERT_EQ(rot.rc, 0) << rot.err;
  EXPECT_EQ(nlohmann::json::parse(rot.out)["version"], 2);
  CliResult after_rot = verify();
  EXPECT_EQ(after_rot.rc, kExitIntegrity);
  EXPECT_NE(after_rot.out.find("releases/1.0.0/release.json"), std::string::npos) << after_rot.out;
  ASSERT_EQ(publish("2.0.0", 'b', "rel2").rc, 0);

  // Revoking the only channel key is refused (nothing could sign channels); with a replacement
  // it goes through, and the channel must be re-signed.
  CliResult lone = e.Run(
      {"keys", "revoke", k["ch1"].second, "--repo", repo.string(), "--sign-with", priv("root")});
  EXPECT_EQ(lone.rc, kExitPolicy) << lone.err;
  EXPECT_NE(lone.err.find("the channel role would need 1 signature(s) from 0 key(s)"),
            std::string::npos)
      << lone.err;
  // Revoke and replace in one root version: no intermediate root still trusts the leaked key.
  CliResult replaced = e.Run({"keys", "revoke", k["ch1"].second, "--replace-with", priv("ch2"),
                              "--repo", repo.string(), "--sign-with", priv("root"), "--json"});
  ASSERT_EQ(replaced.rc, 0) << replaced.err;
  auto v3 = nlohmann::json::parse(replaced.out);
  EXPECT_EQ(v3["version"], 3);
  EXPECT_EQ(v3["roles"]["channel"]["keyids"], nlohmann::json::array({k["ch2"].second}));
  CliResult revoked = verify();
  EXPECT_EQ(revoked.rc, kExitIntegrity);
  EXPECT_NE(revoked.out.find("channels/stable.json"), std::string::npos) << revoked.out;
  // The leaked key cannot re-sign the channel any more; the new one can.
  CliResult thief = e.Run({"channel", "set", "--repo", repo.string(), "--channel", "stable",
                           "--release", "2.0.0", "--key", priv("ch1")});
  EXPECT_EQ(thief.rc, kExitPolicy) << thief.err;
  ASSERT_EQ(e.Run({"channel", "set", "--repo", repo.string(), "--channel", "stable", "--release",
                   "2.0.0", "--key", priv("ch2")})
                .rc,
            0);
  // Only the release rel1 signed remains a problem.
  CliResult now = verify();
  EXPECT_EQ(now.rc, kExitIntegrity);
  auto problems = nlohmann::json::parse(now.out)["problems"];
  ASSERT_EQ(problems.size(), 1u) << now.out;
  EXPECT_NE(problems[0].get<std::string>().find("releases/1.0.0/release.json"), std::string::npos);
  EXPECT_NE(nlohmann::json::parse(now.out).dump().find("\"ok\":false"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(
                e.Run({"keys", "show-root", "--repo", repo.string(), "--json"}).out)["version"],
            3);

  // A published root is never rewritten.
  CliResult again = e.Run({"keys", "init-root", "--repo", repo.string(), "--repository", "prod",
                           "--root-key", priv("root"), "--release-key", priv("rel2"),
                           "--channel-key", priv("ch2"), "--sign-with", priv("root")});
  EXPECT_EQ(again.rc, kExitPolicy) << again.err;
  // root.json one version behind (a crash between the two writes): the chain decides, the copy
  // is repaired, and the next rotation is version 4.
  fs::copy_file(repo / "roots/2.json", repo / "root.json", fs::copy_options::overwrite_existing);
  CliResult renew = e.Run({"keys", "rotate", "--repo", repo.string(), "--expires-in", "30d",
                           "--sign-with", priv("root"), "--json"});
  ASSERT_EQ(renew.rc, 0) << renew.err;
  EXPECT_EQ(nlohmann::json::parse(renew.out)["version"], 4);
  EXPECT_EQ(ReadAll(repo / "root.json"), ReadAll(repo / "roots/4.json"));
  // A root in the chain edited after signing: hosts stop at the one before it.
  std::string r3 = ReadAll(repo / "roots/3.json");
  r3[r3.find("\"sig\"") + 10] ^= 1;
  WriteAll(repo / "roots/3.json", r3);
  CliResult tampered = verify();
  EXPECT_EQ(tampered.rc, kExitIntegrity);
  EXPECT_NE(tampered.out.find("roots/: hosts refuse it (bad-root-signature)"), std::string::npos)
      << tampered.out;
  // ... and so do the operator's tools: nothing is signed on top of a broken chain.
  CliResult on_broken = e.Run({"keys", "rotate", "--repo", repo.string(), "--expires-in", "30d",
                               "--sign-with", priv("root")});
  EXPECT_EQ(on_broken.rc, kExitIntegrity) << on_broken.err;
  EXPECT_NE(on_broken.err.find("hosts stop at version 2"), std::string::npos) << on_broken.err;
}

}  // namespace
}  // namespace basalt::repo
