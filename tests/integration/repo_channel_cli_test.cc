// The channel verbs of the `basalt` CLI on a repository directory (no server needed): renew,
// list, history, `rollout --limit`, pause/resume, and the expiry warnings of `repo verify` and
// `channel list`. The decision side is `channel show` over the same directory.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
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

class ChannelCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("BASALT_BIN_DIR");
    ASSERT_NE(bin, nullptr);
    basalt_ = fs::path(bin) / "basalt";
    fs::path t = tmp_.path();
    CliResult gen = Run({"keys", "generate", "--output", (t / "keys").string(), "--json"});
    ASSERT_EQ(gen.rc, 0) << gen.err;
    auto info = nlohmann::json::parse(gen.out);
    key_ = info["private"];
    fs::create_directories(trust_);
    fs::copy_file(info["public"].get<std::string>(), trust_ / "release.pem");
    auto signer = PrivateKey::Load(key_);
    ASSERT_TRUE(signer.has_value()) << signer.error().message();
    uint64_t seed = 1;
    for (auto [v, root] : {std::pair<const char*, char>{"1.0.0", 'a'}, {"2.0.0", 'b'}}) {
      WriteImageDir(t / v, v, root);
      WriteAll(t / (std::string(v) + ".payload"),
               MakeTestPayload(ForImage(v, root), *signer, 64 << 10, seed++));
      CliResult pub =
          Run({"release", "publish", "--repo", repo_.string(), "--image-dir", (t / v).string(),
               "--key", key_, "--payload", (t / (std::string(v) + ".payload")).string()});
      ASSERT_EQ(pub.rc, 0) << pub.err;
    }
  }

  CliResult Run(const std::vector<std::string>& args) {
    std::string cmd = Quote(basalt_.string());
    for (const auto& a : args)
      cmd += " " + Quote(a);
    fs::path out = fs::path(tmp_.path()) / "cli.out", err = fs::path(tmp_.path()) / "cli.err";
    cmd += " >" + Quote(out.string()) + " 2>" + Quote(err.string());
    int status = std::system(cmd.c_str());
    CliResult r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadAll(out);
    r.err = ReadAll(err);
    return r;
  }
  // `basalt channel <verb> --repo R --channel stable --key K <extra>`, which must succeed.
  nlohmann::json Channel(const std::string& verb, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"channel", verb,    "--repo", repo_.string(), "--channel",
                                     "stable",  "--key", key_,     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = Run(args);
    EXPECT_EQ(r.rc, 0) << verb << ": " << r.err;
    return r.rc == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }
  // What a host on 1.0.0 with this machine id would do now.
  std::string Show(const std::string& machine_id) {
    CliResult r =
        Run({"channel", "show", "--repo", repo_.string(), "--channel", "stable", "--keys",
             trust_.string(), "--host-version", "1.0.0", "--machine-id", machine_id, "--json"});
    EXPECT_EQ(r.rc, 0) << r.err;
    return r.rc == 0 ? nlohmann::json::parse(r.out)["code"].get<std::string>() : "";
  }

  TempDir tmp_;
  fs::path basalt_;
  fs::path repo_ = fs::path(tmp_.path()) / "repo";
  fs::path trust_ = fs::path(tmp_.path()) / "trust";
  std::string key_;
};

TEST_F(ChannelCliTest, RenewListHistoryAndLimit) {
  nlohmann::json set =
      Channel("set", {"--release", "2.0.0", "--start", "now", "--duration", "48h"});
  EXPECT_EQ(set["metadata_version"], 1);
  nlohmann::json limited = Channel("rollout", {"--limit", "0"});
  EXPECT_EQ(limited["rollout"]["limit_percent"], 0);
  EXPECT_EQ(limited["rollout"]["start"], set["rollout"]["start"]) << "--limit keeps the timing";
  // A limit of 0 holds every host, whatever their place.
  for (const char* id : {"00000000000000000000000000000001", "ffffffffffffffffffffffffffffffff"})
    EXPECT_EQ(Show(id), "outside-wave") << id;

  // renew changes the version and the expiry only, and keeps the limit and the wave.
  nlohmann::json renewed = Channel("renew", {"--expires-in", "90d"});
  EXPECT_EQ(renewed["metadata_version"], 3);
  EXPECT_EQ(renewed["rollout"], limited["rollout"]);
  EXPECT_EQ(renewed["release"], "2.0.0");
  EXPECT_GT(renewed["expires_in_seconds"].get<int64_t>(), 89 * 86400);
  // So does set to the current release (it used to drop the wave).
  nlohmann::json reset = Channel("set", {"--release", "2.0.0"});
  EXPECT_EQ(reset["rollout"], limited["rollout"]);
  EXPECT_EQ(Show("ffffffffffffffffffffffffffffffff"), "outside-wave");

  // Widening the step lets everyone in: --limit 100 with a wave that has not run long enough
  // still holds the late hosts, a step without time is the explicit way.
  Channel("rollout", {"--limit", "100", "--start", "2000-01-01T00:00:00Z", "--duration", "0s"});
  EXPECT_EQ(Show("ffffffffffffffffffffffffffffffff"), "newer");

  CliResult list = Run({"channel", "list", "--repo", repo_.string(), "--json"});
  ASSERT_EQ(list.rc, 0) << list.err;
  nlohmann::json lj = nlohmann::json::parse(list.out);
  ASSERT_EQ(lj["channels"].size(), 1u);
  EXPECT_EQ(lj["channels"][0]["name"], "stable");
  EXPECT_EQ(lj["channels"][0]["metadata_version"], 5);
  EXPECT_EQ(lj["channels"][0]["rollout"]["wave_percent"], 100.0);
  EXPECT_TRUE(lj["warnings"].empty());

  CliResult hist = Run({"channel", "history", "--repo", repo_.string(), "--channel", "stable"});
  ASSERT_EQ(hist.rc, 0) << hist.err;
  for (int v = 1; v <= 5; ++v) {
    EXPECT_NE(hist.out.find(fmt::format("{:>6}  release 2.0.0", v)), std::string::npos) << hist.out;
  }
  EXPECT_NE(hist.out.find("up to 0%"), std::string::npos) << hist.out;
  CliResult hj =
      Run({"channel", "history", "--repo", repo_.string(), "--channel", "stable", "--json"});
  ASSERT_EQ(hj.rc, 0) << hj.err;
  EXPECT_EQ(nlohmann::json::parse(hj.out).size(), 5u);

  // Out of range and escaping names are refused before anything is signed.
  EXPECT_NE(Run({"channel", "rollout", "--repo", repo_.string(), "--channel", "stable", "--key",
                 key_, "--limit", "101"})
                .rc,
            0);
  EXPECT_NE(Run({"channel", "history", "--repo", repo_.string(), "--channel", "../releases"}).rc,
            0);
  CliResult verify = Run({"repo", "verify", "--repo", repo_.string(), "--keys", trust_.string()});
  EXPECT_EQ(verify.rc, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("1 channel(s): OK"), std::string::npos) << verify.out;
}

TEST_F(ChannelCliTest, PauseFreezesTheWaveAcrossResume) {
  Channel("set", {"--release", "2.0.0", "--start", "now", "--duration", "48h"});
  nlohmann::json paused = Channel("pause");
  EXPECT_TRUE(paused["paused"]);
  EXPECT_TRUE(paused.contains("paused_at"));
  EXPECT_EQ(Show("00000000000000000000000000000001"), "paused");
  nlohmann::json resumed = Channel("resume");
  EXPECT_FALSE(resumed["paused"]);
  EXPECT_FALSE(resumed.contains("paused_at"));
  // The start moved by the pause (a second or so here), never backwards.
  EXPECT_GE(resumed["rollout"]["start"].get<std::string>(),
            paused["rollout"]["start"].get<std::string>());
  CliResult again =
      Run({"channel", "resume", "--repo", repo_.string(), "--channel", "stable", "--key", key_});
  EXPECT_NE(again.rc, 0);
  EXPECT_NE(again.err.find("not paused"), std::string::npos) << again.err;
}

TEST_F(ChannelCliTest, ExpiringChannelsAreWarnedAbout) {
  Channel("set", {"--release", "2.0.0", "--expires-in", "1h"});
  // The reported case: verify said OK 23 minutes before expiry.
  std::string at = FormatTime(Now() + std::chrono::minutes(37));
  CliResult v =
      Run({"repo", "verify", "--repo", repo_.string(), "--keys", trust_.string(), "--now", at});
  EXPECT_EQ(v.rc, 0) << "a warning alone does not fail: " << v.out << v.err;
  EXPECT_NE(v.out.find("warning: channels/stable.json: expires at"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("1 warning(s)"), std::string::npos) << v.out;
  CliResult strict = Run({"repo", "verify", "--repo", repo_.string(), "--keys", trust_.string(),
                          "--now", at, "--strict", "--json"});
  EXPECT_NE(strict.rc, 0) << "--strict fails on warnings";
  nlohmann::json sj = nlohmann::json::parse(strict.out);
  EXPECT_FALSE(sj["ok"]);
  EXPECT_EQ(sj["warnings"].size(), 1u);
  EXPECT_TRUE(sj["problems"].empty());
  // A narrower window does not warn.
  CliResult narrow = Run({"repo", "verify", "--repo", repo_.string(), "--keys", trust_.string(),
                          "--now", at, "--warn-expiry", "10m"});
  EXPECT_EQ(narrow.out.find("warning:"), std::string::npos) << narrow.out;

  CliResult list = Run({"channel", "list", "--repo", repo_.string(), "--now", at});
  EXPECT_EQ(list.rc, 0) << list.err;
  EXPECT_NE(list.out.find("warning: channel stable expires"), std::string::npos) << list.out;
  // 23 minutes left, give or take the second --now rounds off.
  EXPECT_TRUE(list.out.find("(in 22m") != std::string::npos ||
              list.out.find("(in 23m") != std::string::npos)
      << list.out;

  // Renewing clears the warning.
  Channel("renew");
  CliResult after =
      Run({"repo", "verify", "--repo", repo_.string(), "--keys", trust_.string(), "--now", at});
  EXPECT_EQ(after.rc, 0);
  EXPECT_EQ(after.out.find("warning:"), std::string::npos) << after.out;
}

}  // namespace
}  // namespace basalt::repo
