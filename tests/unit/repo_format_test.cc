// Base64, DSSE's PAE and envelopes, and the strict release and channel parsers.
#include <gtest/gtest.h>

#include "common/base64.h"
#include "common/time_util.h"
#include "repo/names.h"
#include "unit/repo_test_util.h"

namespace basalt::repo {
namespace {
using namespace testing;

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (auto [plain, enc] : vectors) {
    EXPECT_EQ(Base64Encode(std::string_view(plain)), enc);
    auto dec = Base64Decode(enc);
    ASSERT_TRUE(dec.has_value()) << enc;
    EXPECT_EQ(std::string(dec->begin(), dec->end()), plain);
  }
}

TEST(Base64, RejectsNonCanonicalAndForeignInput) {
  for (const char* bad :
       {"Zg=", "Zg", "Z===", "Zh==", "Zm9v\n", "Zm-v", "Zm_v", "=Zm9", "Zg==Zg=="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

TEST(Dsse, PreAuthEncodingMatchesSpec) {
  // The example from the DSSE specification (protocol.md).
  EXPECT_EQ(PreAuthEncoding("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
}

TEST(Dsse, SignAndOpen) {
  PrivateKey key = NewKey();
  Keyring ring;
  ring.Add(key.public_key());
  std::string env = Sign(kChannelPayloadType, "{\"x\":1}", key);
  auto body = OpenVerified(env, kChannelPayloadType, ring, 1);
  ASSERT_TRUE(body.has_value()) << body.error().message();
  EXPECT_EQ(*body, "{\"x\":1}");
  // The same envelope is not a release.
  auto wrong = OpenVerified(env, kReleasePayloadType, ring, 1);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().kind(), ErrorKind::kIntegrity);
  EXPECT_NE(wrong.error().message().find("payloadType"), std::string::npos);
}

TEST(Dsse, SignatureCoversPayloadTypeAndBody) {
  PrivateKey key = NewKey();
  Keyring ring;
  ring.Add(key.public_key());
  auto env = nlohmann::json::parse(Sign(kChannelPayloadType, "{\"x\":1}", key));
  // Same signature, different body.
  auto body_swapped = env;
  body_swapped["payload"] = Base64Encode(std::string_view("{\"x\":2}"));
  EXPECT_FALSE(OpenVerified(body_swapped.dump(), kChannelPayloadType, ring, 1).has_value());
  // Same signature and body, relabelled as a release: fails on the type, and would fail the
  // signature too because PAE includes the type.
  auto relabelled = env;
  relabelled["payloadType"] = kReleasePayloadType;
  EXPECT_FALSE(OpenVerified(relabelled.dump(), kReleasePayloadType, ring, 1).has_value());
}

TEST(Dsse, ThresholdCountsDistinctTrustedKeys) {
  PrivateKey a = NewKey(), b = NewKey();
  Keyring ring;
  ring.Add(a.public_key());
  ring.Add(b.public_key());
  std::vector<PrivateKey> both = {a, b};
  auto env = SignEnvelope(kReleasePayloadType, "{}", both);
  ASSERT_TRUE(env.has_value());
  EXPECT_TRUE(OpenVerified(*env, kReleasePayloadType, ring, 2).has_value());
  std::vector<PrivateKey> twice = {a, a};
  auto dup = SignEnvelope(kReleasePayloadType, "{}", twice);
  ASSERT_TRUE(dup.has_value());
  EXPECT_FALSE(OpenVerified(*dup, kReleasePayloadType, ring, 2).has_value());
  EXPECT_TRUE(OpenVerified(*dup, kReleasePayloadType, ring, 1).has_value());
}

TEST(Dsse, EnvelopeParserNamesTheProblem) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"[]", "expected a JSON object"},
      {"{", "not valid JSON"},
      {R"({"payload":"e30=","signatures":[]})", "envelope.payloadType: required field is missing"},
      {R"({"payloadType":1,"payload":"e30=","signatures":[]})",
       "envelope.payloadType: expected a string"},
      {R"({"payloadType":"t","payload":"e30","signatures":[]})", "envelope.payload"},
      {R"({"payloadType":"t","payload":"e30=","signatures":{}})",
       "envelope.signatures: expected an array"},
      {R"({"payloadType":"t","payload":"e30=","signatures":[],"extra":1})",
       "envelope.extra: unknown field"},
      {R"({"payloadType":"t","payload":"e30=","signatures":[{"keyid":"ab","sig":"AA=="}]})",
       "envelope.signatures[0].keyid: expected 64 hex digits"},
      {R"({"payloadType":"t","payload":"e30=","signatures":[{"keyid":"0000000000000000000000000000000000000000000000000000000000000000","sig":"AA==","x":1}]})",
       "envelope.signatures[0].x: unknown field"},
  };
  for (const auto& c : cases) {
    auto env = ParseEnvelope(c.text);
    ASSERT_FALSE(env.has_value()) << c.text;
    EXPECT_NE(env.error().message().find(c.expect), std::string::npos)
        << c.text << " -> " << env.error().message();
  }
  EXPECT_FALSE(ParseEnvelope(std::string(kMaxEnvelopeSize + 1, ' ')).has_value());
}

TEST(ReleaseDoc, RoundTrips) {
  Release r = MakeRelease("2.0.0", 'b');
  r.payloads.push_back(Delta("2.0.0", "1.0.0", 'a'));
  auto back = ParseRelease(SerializeRelease(r));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, r);
}

TEST(ReleaseDoc, RejectsUnknownMissingAndMistypedFields) {
  auto base = nlohmann::json::parse(SerializeRelease(MakeRelease("2.0.0", 'b')));
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    const char* expect;
  } cases[] = {
      {[](auto& j) { j["surprise"] = 1; }, "release.surprise: unknown field"},
      {[](auto& j) { j.erase("version"); }, "release.version: required field is missing"},
      {[](auto& j) { j["version"] = 2; }, "release.version: expected a string"},
      {[](auto& j) { j["version"] = "../etc"; }, "release.version"},
      {[](auto& j) { j["created"] = "yesterday"; }, "release.created"},
      {[](auto& j) { j["usr"]["root_hash"] = "abc"; }, "release.usr.root_hash"},
      {[](auto& j) { j["usr"]["data_size"] = -1; }, "release.usr.data_size: must not be negative"},
      {[](auto& j) { j["usr"]["data_size"] = "4096"; }, "release.usr.data_size: expected"},
      {[](auto& j) { j["usr"]["hash_algorithm"] = "md5"; }, "release.usr.hash_algorithm"},
      {[](auto& j) { j["usr"]["extra"] = true; }, "release.usr.extra: unknown field"},
      {[](auto& j) { j["kernel"].erase("sha256"); }, "release.kernel.sha256: required"},
      {[](auto& j) { j["payloads"] = nlohmann::json::array(); }, "release.payloads"},
      {[](auto& j) { j["payloads"][0]["kind"] = "patch"; }, "release.payloads[0].kind"},
      {[](auto& j) { j["payloads"][0]["url"] = "../../etc/shadow"; }, "release.payloads[0].url"},
      {[](auto& j) { j["payloads"][0]["url"] = "https://evil/x"; }, "release.payloads[0].url"},
      {[](auto& j) { j["payloads"][0]["size"] = 0; }, "release.payloads[0].size"},
      {[](auto& j) { j["payloads"][0]["sha256"] = Hex64('G'); }, "release.payloads[0].sha256"},
      {[](auto& j) { j["payloads"][0]["kind"] = "delta"; }, "release.payloads[0].from_version"},
      {[](auto& j) { j["sbom_sha256"] = nullptr; }, "release.sbom_sha256: expected a string"},
      {[](auto& j) { j.erase("input_digest"); }, "release.input_digest: required"},
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    nlohmann::json j = base;
    cases[i].edit(j);
    auto r = ParseRelease(j.dump());
    ASSERT_FALSE(r.has_value()) << "case " << i;
    EXPECT_NE(r.error().message().find(cases[i].expect), std::string::npos)
        << "case " << i << ": " << r.error().message();
  }
}

TEST(ReleaseDoc, NeedsAFullPayload) {
  Release r = MakeRelease("2.0.0", 'b');
  r.payloads = {Delta("2.0.0", "1.0.0", 'a')};
  auto back = ParseRelease(SerializeRelease(r));
  ASSERT_FALSE(back.has_value());
  EXPECT_NE(back.error().message().find("no full payload"), std::string::npos);
}

TEST(ChannelDoc, RoundTripsWithAndWithoutOptionalFields) {
  Channel c = MakeChannel("2.0.0");
  auto back = ParseChannel(SerializeChannel(c));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, c);
  c.floor = "1.5.0";
  c.rollout = Rollout{T0(), std::chrono::hours(24)};
  c.paused = true;
  c.pinned = true;
  c.allow_downgrade = true;
  back = ParseChannel(SerializeChannel(c));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, c);
}

TEST(ChannelDoc, RejectsUnknownMissingAndMistypedFields) {
  Channel c = MakeChannel("2.0.0");
  c.rollout = Rollout{T0(), std::chrono::hours(1)};
  auto base = nlohmann::json::parse(SerializeChannel(c));
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    const char* expect;
  } cases[] = {
      {[](auto& j) { j["priority"] = 1; }, "channel.priority: unknown field"},
      {[](auto& j) { j.erase("expires"); }, "channel.expires: required field is missing"},
      {[](auto& j) { j.erase("allow_downgrade"); }, "channel.allow_downgrade: required"},
      {[](auto& j) { j["allow_downgrade"] = "yes"; }, "channel.allow_downgrade: expected true"},
      {[](auto& j) { j["metadata_version"] = 0; }, "channel.metadata_version: must be at least 1"},
      {[](auto& j) { j["metadata_version"] = 1.5; }, "channel.metadata_version: expected"},
      {[](auto& j) { j["name"] = "Stable/../x"; }, "channel.name"},
      {[](auto& j) { j["expires"] = "2026-11-22T00:00:00+01:00"; }, "channel.expires"},
      {[](auto& j) { j["rollout"]["duration_seconds"] = -5; }, "channel.rollout.duration_seconds"},
      {[](auto& j) { j["rollout"]["jitter"] = 5; }, "channel.rollout.jitter: unknown field"},
      {[](auto& j) { j["rollout"] = 5; }, "channel.rollout: expected an object"},
      {[](auto& j) { j["floor"] = 1; }, "channel.floor: expected a string"},
      {[](auto& j) { j["paused"] = nullptr; }, "channel.paused: expected true"},
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    nlohmann::json j = base;
    cases[i].edit(j);
    auto r = ParseChannel(j.dump());
    ASSERT_FALSE(r.has_value()) << "case " << i;
    EXPECT_NE(r.error().message().find(cases[i].expect), std::string::npos)
        << "case " << i << ": " << r.error().message();
  }
}

// Version ordering is tested with the grammar, in common_grammar_test.cc.

TEST(Names, RejectUnsafeNames) {
  EXPECT_TRUE(CheckVersion("4081.2.0", "v").has_value());
  EXPECT_FALSE(CheckVersion("../1.0", "v").has_value());
  EXPECT_FALSE(CheckVersion("1.0/x", "v").has_value());
  EXPECT_FALSE(CheckVersion("", "v").has_value());
  EXPECT_TRUE(CheckChannelName("stable", "c").has_value());
  EXPECT_FALSE(CheckChannelName("Stable", "c").has_value());
  EXPECT_FALSE(CheckRelativeUrl("/etc/passwd", "u").has_value());
  EXPECT_FALSE(CheckRelativeUrl("a/../b", "u").has_value());
  EXPECT_FALSE(CheckRelativeUrl("http://x/y", "u").has_value());
  EXPECT_TRUE(CheckRelativeUrl("releases/1.0/full.payload", "u").has_value());
}

TEST(Time, ParsesAndFormatsRfc3339Utc) {
  auto t = ParseTime("2024-02-29T23:59:58Z", "t");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->time_since_epoch().count(), 1709251198);
  EXPECT_EQ(FormatTime(*t), "2024-02-29T23:59:58Z");
  EXPECT_FALSE(ParseTime("2023-02-29T00:00:00Z", "t").has_value());
  EXPECT_FALSE(ParseTime("2023-01-01 00:00:00Z", "t").has_value());
  auto d = ParseDuration("1d12h", "d");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->count(), 36 * 3600);
  EXPECT_EQ(ParseDuration("90", "d")->count(), 90);
  EXPECT_FALSE(ParseDuration("h", "d").has_value());
  EXPECT_FALSE(ParseDuration("5x", "d").has_value());  // systemd spans: no unit x
  EXPECT_EQ(FormatDuration(std::chrono::seconds(90061)), "1d1h1m1s");
}

// Release minor 2: the image's kernel arguments round-trip, make the document minor 2, and a
// release that would put a key of basalt-init's own on the command line is refused.
TEST(ReleaseFormat, KernelCmdlineRoundTripsAndReservedKeysAreRefused) {
  Release r = MakeRelease("2.0.0", 'b');
  r.kernel.cmdline = "apparmor=1 security=apparmor";
  const std::string body = SerializeRelease(r);
  EXPECT_NE(body.find("\"format_minor\": 2"), std::string::npos) << body;
  auto back = ParseRelease(body);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, r);
  r.kernel.cmdline = "quiet usrhash=00";
  auto bad = ParseRelease(SerializeRelease(r));
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("release.kernel.cmdline: \"usrhash=00\" is set by each"),
            std::string::npos)
      << bad.error().message();
  r.kernel.cmdline.reset();
  EXPECT_EQ(SerializeRelease(r).find("format_minor"), std::string::npos);
}

}  // namespace
}  // namespace basalt::repo
