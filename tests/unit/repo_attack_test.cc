// The attack matrix, in the spirit of TUF's threat list: each case is an attacker who controls
// the repository or the network path (but not the signing keys) and what the host does about
// it. The repository is real files read through the libcurl fetcher (file://); the nginx
// integration test repeats the essentials over HTTP.
#include <gtest/gtest.h>
#include <unistd.h>

#include "http/fetcher.h"
#include "repo/channel_ops.h"
#include "repo/repo_source.h"
#include "unit/repo_test_util.h"

namespace basalt::repo {
namespace {
using namespace testing;
namespace fs = std::filesystem;

class AttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ring_.Add(keys_[0].public_key());
    WriteImageDir(fs::path(tmp_.path()) / "img1", "1.0.0", 'a');
    WriteImageDir(fs::path(tmp_.path()) / "img2", "2.0.0", 'b');
    for (auto [img, deltas] : {std::pair<const char*, std::vector<std::string>>{"img1", {}},
                               {"img2", {(fs::path(tmp_.path()) / "img1").string()}}}) {
      PublishOptions o;
      o.repo_dir = repo_.string();
      o.image_dir = (fs::path(tmp_.path()) / img).string();
      o.delta_from = deltas;
      o.now = T0();
      auto r = PublishRelease(o, keys_, &maker_, log_);
      ASSERT_TRUE(r.has_value()) << r.error().message();
    }
    ASSERT_TRUE(Set("1.0.0").has_value());
    v1_channel_ = ReadAll(repo_ / "channels/stable.json");
    ASSERT_TRUE(Set("2.0.0").has_value());
  }
  Result<Channel> Set(const std::string& v) {
    return ChangeChannel(repo_.string(), "stable", {ChannelOpKind::kSet, v, std::nullopt, false},
                         keys_, T0(), std::chrono::days(7));
  }
  HostState Host() {
    HostState h;
    h.current_version = "1.0.0";
    h.current_root_hash = Hex64('a');
    h.machine_id = "fedcba9876543210fedcba9876543210";
    h.last_metadata_version = 2;
    h.now = T0() + std::chrono::hours(1);
    return h;
  }
  Decision Check(const HostState& h) {
    auto d = Decide(ring_, 1, "stable", source_, h);
    EXPECT_TRUE(d.has_value()) << d.error().message();
    return d.value_or(Decision{});
  }
  Status Download(const PayloadRef& p) {
    auto url = source_.PayloadUrl(p);
    EXPECT_TRUE(url.has_value());
    return DownloadPayload(*fetcher_, *url, p,
                           (fs::path(tmp_.path()) / "download.payload").string());
  }
  fs::path Dest() const { return fs::path(tmp_.path()) / "download.payload"; }
  fs::path Part() const { return fs::path(tmp_.path()) / "download.payload.part"; }

  TempDir tmp_;
  fs::path repo_ = fs::path(tmp_.path()) / "repo";
  std::vector<PrivateKey> keys_ = {NewKey()};
  Keyring ring_;
  FakePayloadMaker maker_;
  NullLogger log_;
  std::unique_ptr<http::Fetcher> fetcher_ = http::MakeCurlFetcher();
  RepositorySource source_{*fetcher_, repo_.string()};
  std::string v1_channel_;
};

TEST_F(AttackTest, Baseline_GoodRepositoryUpdatesWithTheDelta) {
  Decision d = Check(Host());
  ASSERT_EQ(d.verdict, Verdict::kUpdate) << d.reason;
  EXPECT_EQ(d.version, "2.0.0");
  EXPECT_EQ(d.payload->kind, PayloadKind::kDelta);
  auto s = Download(*d.payload);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  EXPECT_EQ(ReadAll(Dest()), ReadAll(repo_ / d.payload->url));
  EXPECT_FALSE(fs::exists(Part()));
}

TEST_F(AttackTest, ArbitraryPayload_ReplacedBytesAreRefused) {
  Decision d = Check(Host());
  ASSERT_EQ(d.verdict, Verdict::kUpdate);
  std::string evil(d.payload->size, 'E');
  WriteAll(repo_ / d.payload->url, evil);
  auto s = Download(*d.payload);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().kind(), ErrorKind::kIntegrity);
  EXPECT_NE(s.error().message().find("SHA-256"), std::string::npos) << s.error().message();
  EXPECT_FALSE(fs::exists(Dest()));
  EXPECT_FALSE(fs::exists(Part()));
}

TEST_F(AttackTest, Replay_OlderSignedChannelIsRefused) {
  WriteAll(repo_ / "channels/stable.json", v1_channel_);  // validly signed, metadata version 1
  Decision d = Check(Host());
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.code, "replay");
  EXPECT_NE(d.reason.find("older than version 2"), std::string::npos) << d.reason;
}

TEST_F(AttackTest, Freeze_ExpiredMetadataIsRefused) {
  HostState h = Host();
  h.now = T0() + std::chrono::days(8);
  Decision d = Check(h);
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.code, "expired");
}

TEST_F(AttackTest, RollbackWithoutFlag_OlderReleaseIsRefused) {
  // Even a validly signed, newer channel document may not move a host backwards unless the
  // operator said so with allow_downgrade.
  Channel ch = MakeChannel("1.0.0");
  ch.metadata_version = 3;
  WriteAll(repo_ / "channels/stable.json",
           Sign(kChannelPayloadType, SerializeChannel(ch), keys_[0]));
  HostState h = Host();
  h.current_version = "2.0.0";
  h.current_root_hash = Hex64('b');
  Decision d = Check(h);
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.code, "downgrade");
}

TEST_F(AttackTest, MixAndMatch_ReleaseOfAnotherVersionIsRefused) {
  fs::copy_file(repo_ / "releases/1.0.0/release.json", repo_ / "releases/2.0.0/release.json",
                fs::copy_options::overwrite_existing);
  Decision d = Check(Host());
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.code, "mix-and-match");
  EXPECT_EQ(d.refusal_kind, ErrorKind::kIntegrity);
}

// A staging repository signed by the same key publishes its own 2.0.0 (another image): its
// release.json served in place of the real one verifies, names the right version, and is
// refused only because the channel is bound to the exact release document.
TEST_F(AttackTest, MixAndMatch_SameKeyReleaseOfAnotherRepositoryIsRefused) {
  const fs::path staging = fs::path(tmp_.path()) / "staging";
  WriteImageDir(fs::path(tmp_.path()) / "img2-staging", "2.0.0", 'c');
  PublishOptions o;
  o.repo_dir = staging.string();
  o.image_dir = (fs::path(tmp_.path()) / "img2-staging").string();
  o.now = T0();
  ASSERT_TRUE(PublishRelease(o, keys_, &maker_, log_).has_value());
  const std::string ours = ReadAll(repo_ / "releases/2.0.0/release.json");
  ASSERT_NE(ours, ReadAll(staging / "releases/2.0.0/release.json"));
  fs::copy_file(staging / "releases/2.0.0/release.json", repo_ / "releases/2.0.0/release.json",
                fs::copy_options::overwrite_existing);
  Decision d = Check(Host());
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.code, "mix-and-match") << d.reason;
  EXPECT_EQ(d.refusal_kind, ErrorKind::kIntegrity);
  EXPECT_NE(d.reason.find("but channel stable is signed for"), std::string::npos) << d.reason;
  // The channel names exactly the document `channel set` saw.
  WriteAll(repo_ / "releases/2.0.0/release.json", ours);
  EXPECT_EQ(Check(Host()).verdict, Verdict::kUpdate);
}

TEST_F(AttackTest, MixAndMatch_ChannelOfAnotherNameIsRefused) {
  ASSERT_TRUE(ChangeChannel(repo_.string(), "beta",
                            {ChannelOpKind::kSet, "1.0.0", std::nullopt, false}, keys_, T0(),
                            std::chrono::days(7))
                  .has_value());
  fs::copy_file(repo_ / "channels/beta.json", repo_ / "channels/stable.json",
                fs::copy_options::overwrite_existing);
  HostState h = Host();
  h.last_metadata_version.reset();
  Decision d = Check(h);
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.code, "wrong-channel");
}

TEST_F(AttackTest, WrongKey_DocumentsSignedByAnUntrustedKeyAreRefused) {
  std::vector<PrivateKey> evil = {NewKey()};
  auto channel_body = ParseEnvelope(ReadAll(repo_ / "channels/stable.json"))->payload;
  WriteAll(repo_ / "channels/stable.json", *SignEnvelope(kChannelPayloadType, channel_body, evil));
  Decision d = Check(Host());
  EXPECT_EQ(d.code, "bad-channel-signature");

  ASSERT_TRUE(Set("2.0.0").has_value());  // good channel again, version 3
  auto release_body = ParseEnvelope(ReadAll(repo_ / "releases/2.0.0/release.json"))->payload;
  WriteAll(repo_ / "releases/2.0.0/release.json",
           *SignEnvelope(kReleasePayloadType, release_body, evil));
  d = Check(Host());
  EXPECT_EQ(d.code, "bad-release-signature");
  EXPECT_EQ(d.refusal_kind, ErrorKind::kIntegrity);
}

TEST_F(AttackTest, TamperedEnvelope_EditedPayloadKeepsNoSignature) {
  auto env = nlohmann::json::parse(ReadAll(repo_ / "channels/stable.json"));
  auto body = nlohmann::json::parse(ParseEnvelope(env.dump())->payload);
  body["allow_downgrade"] = true;
  body["release"] = "1.0.0";
  env["payload"] = Base64Encode(body.dump());
  WriteAll(repo_ / "channels/stable.json", env.dump());
  Decision d = Check(Host());
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.code, "bad-channel-signature");

  // A release's sizes and hashes are covered too: point the full payload at attacker bytes.
  ASSERT_TRUE(Set("2.0.0").has_value());
  auto renv = nlohmann::json::parse(ReadAll(repo_ / "releases/2.0.0/release.json"));
  auto rbody = nlohmann::json::parse(ParseEnvelope(renv.dump())->payload);
  rbody["payloads"][0]["sha256"] = Hex64('e');
  renv["payload"] = Base64Encode(rbody.dump());
  WriteAll(repo_ / "releases/2.0.0/release.json", renv.dump());
  d = Check(Host());
  EXPECT_EQ(d.code, "bad-release-signature");

  // Stripping the signatures does not help either.
  env["signatures"] = nlohmann::json::array();
  WriteAll(repo_ / "channels/stable.json", env.dump());
  EXPECT_EQ(Check(Host()).code, "bad-channel-signature");
}

TEST_F(AttackTest, PayloadSizeInflation_ExtraBytesAbortTheDownload) {
  Decision d = Check(Host());
  ASSERT_EQ(d.verdict, Verdict::kUpdate);
  std::string data = ReadAll(repo_ / d.payload->url);
  WriteAll(repo_ / d.payload->url, data + std::string(1 << 20, 'X'));
  auto s = Download(*d.payload);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().kind(), ErrorKind::kIntegrity);
  EXPECT_NE(s.error().message().find("more than the expected"), std::string::npos)
      << s.error().message();
  EXPECT_FALSE(fs::exists(Dest()));
  EXPECT_FALSE(fs::exists(Part()));
}

TEST_F(AttackTest, EndlessData_HugeFilesAreCutOffAtTheCap) {
  // 64 GiB sparse files stand in for an endless stream: reading them whole would take minutes
  // and all memory; the fetcher must stop at its cap at once.
  Decision d = Check(Host());
  ASSERT_EQ(d.verdict, Verdict::kUpdate);
  fs::resize_file(repo_ / d.payload->url, 64ull << 30);
  auto s = Download(*d.payload);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().kind(), ErrorKind::kIntegrity);

  fs::resize_file(repo_ / "channels/stable.json", 64ull << 30);
  auto text = source_.FetchChannel("stable");
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().kind(), ErrorKind::kIntegrity);
  EXPECT_NE(text.error().message().find("more than the expected 1048576 bytes"), std::string::npos)
      << text.error().message();
}

TEST_F(AttackTest, InterruptedDownloadResumesAndStillVerifies) {
  Decision d = Check(Host());
  ASSERT_EQ(d.verdict, Verdict::kUpdate);
  std::string data = ReadAll(repo_ / d.payload->url);
  WriteAll(Part(), data.substr(0, data.size() / 3));
  auto s = Download(*d.payload);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  EXPECT_EQ(ReadAll(Dest()), data);

  // A partial file whose prefix was corrupted on disk is caught at the end, not trusted.
  fs::remove(Dest());
  std::string bad = data.substr(0, data.size() / 2);
  bad[0] ^= 1;
  WriteAll(Part(), bad);
  s = Download(*d.payload);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().kind(), ErrorKind::kIntegrity);
  EXPECT_FALSE(fs::exists(Dest()));
}

TEST_F(AttackTest, MissingFilesAreRetryableErrorsNotDecisions) {
  fs::remove(repo_ / "channels/stable.json");
  auto d = Decide(ring_, 1, "stable", source_, Host());
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().kind(), ErrorKind::kNotFound);
}

}  // namespace
}  // namespace basalt::repo
