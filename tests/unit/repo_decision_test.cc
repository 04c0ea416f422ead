// The host-side decision over a table of cases: every refusal, floors, waves, pin, pause and
// rollback, with documents signed by real keys.
#include <gtest/gtest.h>

#include "unit/repo_test_util.h"

namespace basalt::repo {
namespace {
using namespace testing;

class DecisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ring_.Add(key_.public_key());
    Release r1 = MakeRelease("1.0.0", 'a');
    Release r15 = MakeRelease("1.5.0", 'c');
    Release r2 = MakeRelease("2.0.0", 'b');
    r2.payloads.push_back(Delta("2.0.0", "1.0.0", 'a'));
    r2.payloads.push_back(Delta("2.0.0", "1.5.0", 'c'));
    for (const Release& r : {r1, r15, r2})
      PutRelease(r);
  }
  void PutRelease(const Release& r) {
    source_.releases[r.version] = Sign(kReleasePayloadType, SerializeRelease(r), key_);
  }
  void PutChannel(const Channel& c) {
    source_.channels[c.name] = Sign(kChannelPayloadType, SerializeChannel(c), key_);
  }
  HostState Host(const std::string& version, char root = 0) {
    HostState h;
    h.current_version = version;
    h.current_root_hash = root ? Hex64(root) : "";
    h.machine_id = "0123456789abcdef0123456789abcdef";
    h.now = T0();
    return h;
  }
  Decision Run(const HostState& host, size_t threshold = 1) {
    auto d = Decide(ring_, threshold, "stable", source_, host);
    EXPECT_TRUE(d.has_value()) << d.error().message();
    return d.value_or(Decision{});
  }

  PrivateKey key_ = NewKey();
  Keyring ring_;
  MapSource source_;
};

struct Case {
  const char* name;
  std::function<void(Channel&)> channel;
  std::function<void(HostState&)> host;
  Verdict verdict;
  const char* code;
  const char* version;  // for updates
  PayloadKind kind = PayloadKind::kFull;
};

TEST_F(DecisionTest, Table) {
  auto none = [](auto&) {};
  const Case cases[] = {
      {"newer, no delta from our version: full", none, [](auto& h) { h.current_version = "0.9.0"; },
       Verdict::kUpdate, "newer", "2.0.0"},
      {"newer with matching delta", none, none, Verdict::kUpdate, "newer", "2.0.0",
       PayloadKind::kDelta},
      {"delta from another root hash: full instead", none,
       [](auto& h) { h.current_root_hash = Hex64('f'); }, Verdict::kUpdate, "newer", "2.0.0"},
      {"unknown root hash: full", none, [](auto& h) { h.current_root_hash.clear(); },
       Verdict::kUpdate, "newer", "2.0.0"},
      {"up to date", none, [](auto& h) { h.current_version = "2.0.0"; }, Verdict::kWait,
       "up-to-date", ""},
      {"host ahead of channel: downgrade refused", none,
       [](auto& h) { h.current_version = "3.0.0"; }, Verdict::kRefuse, "downgrade", ""},
      {"older release without allow_downgrade", [](auto& c) { c.release = "1.0.0"; },
       [](auto& h) { h.current_version = "2.0.0"; }, Verdict::kRefuse, "downgrade", ""},
      {"rollback with allow_downgrade",
       [](auto& c) {
         c.release = "1.0.0";
         c.allow_downgrade = true;
       },
       [](auto& h) { h.current_version = "2.0.0"; }, Verdict::kUpdate, "rollback", "1.0.0"},
      {"floor: older host goes to the floor first", [](auto& c) { c.floor = "1.5.0"; }, none,
       Verdict::kUpdate, "floor", "1.5.0"},
      {"floor reached: on to the release with its delta", [](auto& c) { c.floor = "1.5.0"; },
       [](auto& h) {
         h.current_version = "1.5.0";
         h.current_root_hash = Hex64('c');
       },
       Verdict::kUpdate, "newer", "2.0.0", PayloadKind::kDelta},
      {"floor below the host: straight to the release", [](auto& c) { c.floor = "0.5.0"; }, none,
       Verdict::kUpdate, "newer", "2.0.0", PayloadKind::kDelta},
      {"paused", [](auto& c) { c.paused = true; }, none, Verdict::kWait, "paused", ""},
      {"host pin to an intermediate release", none, [](auto& h) { h.pin = "1.5.0"; },
       Verdict::kUpdate, "pin", "1.5.0"},
      {"host pinned to what it runs", none, [](auto& h) { h.pin = "1.0.0"; }, Verdict::kWait,
       "pinned", ""},
      {"host pin below the running version", none,
       [](auto& h) {
         h.current_version = "2.0.0";
         h.pin = "1.0.0";
       },
       Verdict::kRefuse, "downgrade", ""},
      {"pin ignores the rollout wave",
       [](auto& c) {
         c.rollout = Rollout{T0(), std::chrono::hours(1)};
       },
       [](auto& h) { h.pin = "2.0.0"; }, Verdict::kUpdate, "pin", "2.0.0", PayloadKind::kDelta},
      {"expired", [](auto& c) { c.expires = T0(); }, none, Verdict::kRefuse, "expired", ""},
      {"expired long ago", [](auto& c) { c.expires = T0() - std::chrono::days(30); }, none,
       Verdict::kRefuse, "expired", ""},
      {"replay: older metadata version than seen", none,
       [](auto& h) { h.last_metadata_version = 6; }, Verdict::kRefuse, "replay", ""},
      {"same metadata version as seen is fine", none, [](auto& h) { h.last_metadata_version = 5; },
       Verdict::kUpdate, "newer", "2.0.0", PayloadKind::kDelta},
      {"same metadata version, same content as seen is fine", none,
       [](auto& h) {
         h.last_metadata_version = 5;
         h.last_metadata_sha256 = ToHex(Sha256(SerializeChannel(MakeChannel("2.0.0"))));
       },
       Verdict::kUpdate, "newer", "2.0.0", PayloadKind::kDelta},
      {"same metadata version, other content than seen", none,
       [](auto& h) {
         h.last_metadata_version = 5;
         h.last_metadata_sha256 = Hex64('e');
       },
       Verdict::kRefuse, "conflicting-metadata", ""},
      {"wave at 0%: rollout not started",
       [](auto& c) {
         c.rollout = Rollout{T0() + std::chrono::hours(1), std::chrono::hours(10)};
       },
       none, Verdict::kWait, "outside-wave", ""},
      {"wave at 100%: rollout over",
       [](auto& c) {
         c.rollout = Rollout{T0() - std::chrono::hours(10), std::chrono::hours(10)};
       },
       none, Verdict::kUpdate, "newer", "2.0.0", PayloadKind::kDelta},
      {"zero-length rollout is immediate",
       [](auto& c) {
         c.rollout = Rollout{T0(), std::chrono::seconds(0)};
       },
       none, Verdict::kUpdate, "newer", "2.0.0", PayloadKind::kDelta},
      {"release not published: no such release", [](auto& c) { c.release = "9.9.9"; }, none,
       Verdict::kRefuse, "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Channel ch = MakeChannel("2.0.0");
    c.channel(ch);
    PutChannel(ch);
    HostState h = Host("1.0.0", 'a');
    c.host(h);
    auto got = Decide(ring_, 1, "stable", source_, h);
    if (std::string_view(c.code).empty() && c.verdict == Verdict::kRefuse) {
      // Fetch failures are errors for the caller to retry, not decisions.
      ASSERT_FALSE(got.has_value());
      EXPECT_EQ(got.error().kind(), ErrorKind::kNotFound);
      continue;
    }
    ASSERT_TRUE(got.has_value()) << got.error().message();
    EXPECT_EQ(got->verdict, c.verdict) << got->reason;
    EXPECT_EQ(got->code, c.code) << got->reason;
    if (got->channel) {
      // What the host records as seen: the digest of the document it accepted.
      EXPECT_EQ(got->channel_sha256, ToHex(Sha256(SerializeChannel(ch))));
    }
    EXPECT_FALSE(got->reason.empty());
    if (c.verdict == Verdict::kUpdate) {
      EXPECT_EQ(got->version, c.version);
      ASSERT_TRUE(got->payload.has_value());
      EXPECT_EQ(got->payload->kind, c.kind) << got->reason;
      ASSERT_TRUE(got->release.has_value());
      EXPECT_EQ(got->release->version, c.version);
    }
    bool channel_accepted =
        c.verdict != Verdict::kRefuse || std::string_view(c.code) == "downgrade";
    EXPECT_EQ(got->channel.has_value(), channel_accepted);
  }
}

TEST_F(DecisionTest, DeltaFromWrongRootHashFallsBackToFullAndSaysSo) {
  PutChannel(MakeChannel("2.0.0"));
  HostState h = Host("1.0.0", 'e');
  Decision d = Run(h);
  ASSERT_EQ(d.verdict, Verdict::kUpdate);
  EXPECT_EQ(d.payload->kind, PayloadKind::kFull);
  EXPECT_TRUE(d.delta_skipped);
  EXPECT_NE(d.reason.find("different root hash"), std::string::npos) << d.reason;
}

TEST_F(DecisionTest, WaveAtHalfLetsAboutHalfTheFleetThroughAndIsStable) {
  Channel ch = MakeChannel("2.0.0");
  ch.rollout = Rollout{T0() - std::chrono::hours(5), std::chrono::hours(10)};
  PutChannel(ch);
  int updating = 0;
  const int kHosts = 400;
  for (int i = 0; i < kHosts; ++i) {
    HostState h = Host("1.0.0", 'a');
    h.machine_id = fmt::format("{:032x}", i * 2654435761u);
    Decision d = Run(h);
    double pos = WavePosition(h.machine_id, "2.0.0");
    if (pos < 0.5) {
      EXPECT_EQ(d.verdict, Verdict::kUpdate) << h.machine_id;
      ++updating;
    } else {
      EXPECT_EQ(d.verdict, Verdict::kWait) << h.machine_id;
      EXPECT_EQ(d.code, "outside-wave");
      ASSERT_TRUE(d.wave_opens.has_value());
      EXPECT_GT(*d.wave_opens, h.now);
    }
    // Stable: the same host decides the same way every time.
    EXPECT_EQ(Run(h).verdict, d.verdict);
  }
  EXPECT_GT(updating, kHosts * 40 / 100);
  EXPECT_LT(updating, kHosts * 60 / 100);
}

TEST_F(DecisionTest, WavePositionDependsOnReleaseToo) {
  // Otherwise the same unlucky hosts would be last in every rollout.
  int differ = 0;
  for (int i = 0; i < 50; ++i) {
    std::string id = fmt::format("host-{}", i);
    if ((WavePosition(id, "2.0.0") < 0.5) != (WavePosition(id, "3.0.0") < 0.5)) ++differ;
  }
  EXPECT_GT(differ, 5);
}

TEST_F(DecisionTest, UntrustedChannelSignatureIsRefused) {
  PrivateKey other = NewKey();
  source_.channels["stable"] =
      Sign(kChannelPayloadType, SerializeChannel(MakeChannel("2.0.0")), other);
  Decision d = Run(Host("1.0.0", 'a'));
  EXPECT_EQ(d.verdict, Verdict::kRefuse);
  EXPECT_EQ(d.code, "bad-channel-signature");
  EXPECT_EQ(d.refusal_kind, ErrorKind::kIntegrity);
  EXPECT_NE(d.reason.find("not trusted"), std::string::npos) << d.reason;
}

TEST_F(DecisionTest, ThresholdOfTwoNeedsTwoTrustedSigners) {
  PrivateKey second = NewKey();
  ring_.Add(second.public_key());
  PutChannel(MakeChannel("2.0.0"));
  EXPECT_EQ(Run(Host("1.0.0", 'a'), 2).code, "bad-channel-signature");
  std::vector<PrivateKey> both = {key_, second};
  source_.channels["stable"] =
      *SignEnvelope(kChannelPayloadType, SerializeChannel(MakeChannel("2.0.0")), both);
  // The release is still signed by one key only.
  EXPECT_EQ(Run(Host("1.0.0", 'a'), 2).code, "bad-release-signature");
  Release r2 = MakeRelease("2.0.0", 'b');
  source_.releases["2.0.0"] = *SignEnvelope(kReleasePayloadType, SerializeRelease(r2), both);
  EXPECT_EQ(Run(Host("1.0.0", 'a'), 2).verdict, Verdict::kUpdate);
}

TEST_F(DecisionTest, RotationOldAndNewKeysBothSign) {
  // Hosts that trust only the old key and hosts that trust only the new one both accept
  // documents signed by both during a rotation.
  PrivateKey next = NewKey();
  std::vector<PrivateKey> both = {key_, next};
  source_.channels["stable"] =
      *SignEnvelope(kChannelPayloadType, SerializeChannel(MakeChannel("2.0.0")), both);
  source_.releases["2.0.0"] =
      *SignEnvelope(kReleasePayloadType, SerializeRelease(MakeRelease("2.0.0", 'b')), both);
  Keyring new_only;
  new_only.Add(next.public_key());
  auto d = Decide(new_only, 1, "stable", source_, Host("1.0.0", 'a'));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->verdict, Verdict::kUpdate);
  EXPECT_EQ(Run(Host("1.0.0", 'a')).verdict, Verdict::kUpdate);
}

TEST(PayloadDigest, SizeAndHashMustAgree) {
  PayloadRef p = Full("2.0.0", 1000);
  EXPECT_TRUE(CheckPayloadDigest(p, 1000, p.sha256).has_value());
  auto size = CheckPayloadDigest(p, 1001, p.sha256);
  ASSERT_FALSE(size.has_value());
  EXPECT_EQ(size.error().kind(), ErrorKind::kIntegrity);
  auto hash = CheckPayloadDigest(p, 1000, Hex64('0'));
  ASSERT_FALSE(hash.has_value());
  EXPECT_EQ(hash.error().kind(), ErrorKind::kIntegrity);
}

}  // namespace
}  // namespace basalt::repo
