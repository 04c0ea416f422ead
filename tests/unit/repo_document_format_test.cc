// Document versions (repo/document_format.h, docs/repository.md): documents written before
// versions existed still open and parse; a newer minor's fields are ignored by an older reader
// while a current document stays strict; a newer major is refused, but only once it is signed.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "repo/document_format.h"
#include "repo/root.h"
#include "repo/trust.h"
#include "unit/repo_test_util.h"

namespace basalt::repo {
namespace {
using namespace testing;

std::string Fixture(const std::string& name) {
  const char* src = std::getenv("BASALT_SOURCE_DIR");
  std::filesystem::path dir = std::filesystem::path(src ? src : ".") / "tests/fixtures/repo";
  auto text = ReadFileToString((dir / name).string());
  EXPECT_TRUE(text.has_value()) << name << ": " << (text ? "" : text.error().message());
  return text.value_or("");
}

Keyring FixtureKeys() {
  Keyring ring;
  auto key = PublicKey::FromPem(Fixture("release-key.pub.pem"));
  EXPECT_TRUE(key.has_value());
  if (key) ring.Add(*key);
  return ring;
}

TEST(DocumentFormat, DocumentsOfFormatOneZeroStillOpenParseAndRoundTrip) {
  Keyring keys = FixtureKeys();
  auto channel_body =
      OpenVerified(Fixture("channel-format-1.0.json"), kChannelPayloadType, keys, 1);
  ASSERT_TRUE(channel_body.has_value()) << channel_body.error().message();
  auto ch = ParseChannel(*channel_body);
  ASSERT_TRUE(ch.has_value()) << ch.error().message();
  EXPECT_EQ(ch->name, "stable");
  EXPECT_EQ(ch->metadata_version, 7u);
  EXPECT_EQ(ch->release, "2.0.0");
  EXPECT_EQ(ch->floor, "1.0.0");
  ASSERT_TRUE(ch->rollout.has_value());
  EXPECT_EQ(ch->rollout->duration, std::chrono::hours(48));
  // This build writes what it read, byte for byte: no field of a later minor appears.
  EXPECT_EQ(SerializeChannel(*ch), *channel_body);

  auto release_body =
      OpenVerified(Fixture("release-format-1.0.json"), kReleasePayloadType, keys, 1);
  ASSERT_TRUE(release_body.has_value()) << release_body.error().message();
  auto rel = ParseRelease(*release_body);
  ASSERT_TRUE(rel.has_value()) << rel.error().message();
  EXPECT_EQ(rel->version, "2.0.0");
  ASSERT_EQ(rel->payloads.size(), 2u);
  EXPECT_EQ(rel->payloads[1].from_version, "1.0.0");
  EXPECT_EQ(SerializeRelease(*rel), *release_body);
}

// The fixture body with `edit` applied.
std::string Edited(const std::string& body, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(body);
  nlohmann::json plain = doc;
  edit(plain);
  return plain.dump(2);
}

TEST(DocumentFormat, ANewerMinorsFieldsAreIgnoredAndACurrentDocumentStaysStrict) {
  Keyring keys = FixtureKeys();
  const std::string channel =
      *OpenVerified(Fixture("channel-format-1.0.json"), kChannelPayloadType, keys, 1);
  const std::string release =
      *OpenVerified(Fixture("release-format-1.0.json"), kReleasePayloadType, keys, 1);
  const uint32_t next_channel = kChannelFormatMinor + 1, next_release = kReleaseFormatMinor + 1;

  // New fields at the top and inside nested objects, in a document that declares its minor.
  auto newer_channel = Edited(channel, [&](nlohmann::json& j) {
    j["format_minor"] = next_channel;
    j["canary_hosts"] = {"a", "b"};
    j["rollout"]["halt_on_failures"] = 3;
  });
  auto ch = ParseChannel(newer_channel);
  ASSERT_TRUE(ch.has_value()) << ch.error().message();
  EXPECT_EQ(ch->release, "2.0.0");
  EXPECT_EQ(ch->rollout->duration, std::chrono::hours(48));

  auto newer_release = Edited(release, [&](nlohmann::json& j) {
    j["format_minor"] = next_release;
    j["predicted_pcrs"] = {{"11", "00"}};
    j["usr"]["fec_roots"] = 2;
    j["kernel"]["cmdline"] = "quiet";
    j["payloads"][0]["mirrors"] = {"https://mirror/"};
  });
  auto rel = ParseRelease(newer_release);
  ASSERT_TRUE(rel.has_value()) << rel.error().message();
  EXPECT_EQ(rel->usr.root_hash, std::string(64, 'a'));

  // The same fields without a newer minor are what they always were: unknown fields.
  auto typo = Edited(channel, [](nlohmann::json& j) { j["canary_hosts"] = {"a"}; });
  auto bad = ParseChannel(typo);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message(), "channel.canary_hosts: unknown field");
  auto nested = Edited(release, [](nlohmann::json& j) { j["usr"]["fec_roots"] = 2; });
  auto bad_release = ParseRelease(nested);
  ASSERT_FALSE(bad_release.has_value());
  EXPECT_EQ(bad_release.error().message(), "release.usr.fec_roots: unknown field");
  auto current = Edited(channel, [](nlohmann::json& j) {
    j["format_minor"] = kChannelFormatMinor;
    j["canary_hosts"] = {"a"};
  });
  EXPECT_FALSE(ParseChannel(current).has_value());

  // A newer minor does not loosen the fields this build knows.
  auto mistyped = Edited(channel, [&](nlohmann::json& j) {
    j["format_minor"] = next_channel;
    j["release"] = 2;
  });
  auto wrong = ParseChannel(mistyped);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().message(), "channel.release: expected a string, got number");
  auto negative = Edited(channel, [](nlohmann::json& j) { j["format_minor"] = -1; });
  EXPECT_FALSE(ParseChannel(negative).has_value());
}

TEST(DocumentFormat, ANewerMajorIsRefusedAsUnsupportedOnlyWhenSigned) {
  EXPECT_EQ(NewerMajorVersion("application/vnd.basalt.channel.v2+json", kChannelPayloadType), 2u);
  EXPECT_EQ(NewerMajorVersion("application/vnd.basalt.channel.v17+json", kChannelPayloadType), 17u);
  for (const char* not_newer :
       {"application/vnd.basalt.channel+json", "application/vnd.basalt.channel.v1+json",
        "application/vnd.basalt.channel.v02+json", "application/vnd.basalt.channel.v+json",
        "application/vnd.basalt.channel.v2x+json", "application/vnd.basalt.release.v2+json",
        "application/vnd.basalt.channel.v2+xml"}) {
    EXPECT_FALSE(NewerMajorVersion(not_newer, kChannelPayloadType).has_value()) << not_newer;
  }

  PrivateKey key = NewKey();
  Keyring ring;
  ring.Add(key.public_key());
  const std::string body = SerializeChannel(MakeChannel("2.0.0"));
  auto v2 = OpenVerified(Sign("application/vnd.basalt.channel.v2+json", body, key),
                         kChannelPayloadType, ring, 1);
  ASSERT_FALSE(v2.has_value());
  EXPECT_EQ(v2.error().kind(), ErrorKind::kUnsupported);
  EXPECT_NE(v2.error().message().find("format version 2 is newer than this host reads"),
            std::string::npos)
      << v2.error().message();
  // Unsigned (here: signed by a key the host does not trust), it is only a bad signature.
  auto untrusted = OpenVerified(Sign("application/vnd.basalt.channel.v2+json", body, NewKey()),
                                kChannelPayloadType, ring, 1);
  ASSERT_FALSE(untrusted.has_value());
  EXPECT_EQ(untrusted.error().kind(), ErrorKind::kIntegrity);

  // The host's decision names it, and keeps the channel's rules in force (nothing updates).
  MapSource src;
  src.channels["stable"] = Sign("application/vnd.basalt.channel.v2+json", body, key);
  HostState host;
  host.current_version = "1.0.0";
  host.now = T0();
  auto d = Decide(ring, 1, "stable", src, host);
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->verdict, Verdict::kRefuse);
  EXPECT_EQ(d->code, "unsupported-format");
  EXPECT_EQ(d->refusal_kind, ErrorKind::kUnsupported);
}

// The documents of the root's formats (root 1.0, channel 1.2, release 1.1) open with the roles of
// the fixture root and re-serialize byte for byte.
TEST(DocumentFormat, RootChannelOneTwoAndReleaseOneOneOpenWithTheRootsRoles) {
  auto root = OpenTrustedRoot(Fixture("root-format-1.0.json"), "root-format-1.0.json");
  ASSERT_TRUE(root.has_value()) << root.error().message();
  EXPECT_EQ(root->root.repository, "fixture");
  EXPECT_EQ(root->root.version, 1u);
  auto root_body = ParseEnvelope(Fixture("root-format-1.0.json"));
  ASSERT_TRUE(root_body.has_value());
  EXPECT_EQ(SerializeRoot(root->root), root_body->payload);

  const Trust trust = Trust::FromRoot(root->root, 1);
  auto channel_body = OpenVerified(Fixture("channel-format-1.2.json"), kChannelPayloadType,
                                   trust.channel_keys, trust.channel_threshold);
  ASSERT_TRUE(channel_body.has_value()) << channel_body.error().message();
  auto ch = ParseChannel(*channel_body);
  ASSERT_TRUE(ch.has_value()) << ch.error().message();
  EXPECT_EQ(ch->repository, "fixture");
  EXPECT_TRUE(ch->release_sha256.has_value());
  EXPECT_EQ(SerializeChannel(*ch), *channel_body);

  auto release_body = OpenVerified(Fixture("release-format-1.1.json"), kReleasePayloadType,
                                   trust.release_keys, trust.release_threshold);
  ASSERT_TRUE(release_body.has_value()) << release_body.error().message();
  auto rel = ParseRelease(*release_body);
  ASSERT_TRUE(rel.has_value()) << rel.error().message();
  EXPECT_EQ(rel->repository, "fixture");
  EXPECT_EQ(SerializeRelease(*rel), *release_body);
  EXPECT_EQ(ToHex(Sha256(*release_body)), *ch->release_sha256);
}

}  // namespace
}  // namespace basalt::repo

namespace basalt::repo {
namespace {

// Release 1.3 (`boot.uki`, issue 19). The fixture is the body this build writes (unsigned: the
// fixture root's key was thrown away); it must parse strictly and re-serialize byte for byte.
TEST(DocumentFormat, ReleaseOneThreeNamesEachSlotsUki) {
  const std::string body = Fixture("release-format-1.3.json");
  auto rel = ParseRelease(body);
  ASSERT_TRUE(rel.has_value()) << rel.error().message();
  ASSERT_TRUE(rel->boot.has_value());
  ASSERT_EQ(rel->boot->uki.size(), 2u);
  EXPECT_EQ(rel->boot->uki.at("A").size, 41943040u);
  EXPECT_EQ(rel->boot->uki.at("B").sha256, std::string(64, '2'));
  EXPECT_EQ(SerializeRelease(*rel), body);
  // Without boot, the same release is written at the minor of its other fields.
  Release no_boot = *rel;
  no_boot.boot.reset();
  EXPECT_NE(SerializeRelease(no_boot).find("\"format_minor\": 2"), std::string::npos);

  auto refused = [&](const std::function<void(nlohmann::json&)>& edit, std::string_view what) {
    auto r = ParseRelease(Edited(body, edit));
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_EQ(r.error().message(), what);
  };
  refused([](nlohmann::json& j) { j["boot"]["uki"].erase("B"); },
          "release.boot.uki.B: required field is missing");
  refused([](nlohmann::json& j) { j["boot"]["uki"]["C"] = j["boot"]["uki"]["A"]; },
          "release.boot.uki.C: unknown field");
  refused([](nlohmann::json& j) { j["boot"]["uki"]["A"]["sha256"] = "ABCD"; },
          "release.boot.uki.A.sha256: expected 64 hex digits, got 4");
  refused([](nlohmann::json& j) { j["boot"]["uki"]["A"]["size"] = 0; },
          "release.boot.uki.A.size: must be 1..67108864");
  refused([](nlohmann::json& j) { j["boot"]["initrd"] = 1; }, "release.boot.initrd: unknown field");
}

}  // namespace
}  // namespace basalt::repo

namespace basalt::repo {
namespace {

// Release 1.4 (`boot.uki.<slot>.measurements`, issue 20): parsed strictly, re-serialized byte for
// byte, written at minor 3 again without measurements, and refused when malformed.
TEST(DocumentFormat, ReleaseOneFourPredictsEachSlotsPcrs) {
  const std::string body = Fixture("release-format-1.4.json");
  auto rel = ParseRelease(body);
  ASSERT_TRUE(rel.has_value()) << rel.error().message();
  ASSERT_TRUE(rel->boot.has_value());
  const auto& a = rel->boot->uki.at("A").measurements;
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->authenticode_sha256, std::string(64, '6'));
  EXPECT_EQ(a->pcr11, std::string(64, '7'));
  EXPECT_EQ(a->pcr11_phases.at("enter-initrd:leave-initrd:sysinit:ready"),
            std::string(63, 'a') + "4");
  EXPECT_EQ(rel->boot->uki.at("B").measurements->pcr11, std::string(64, '9'));
  EXPECT_TRUE(attest::CheckMeasurements(*a));
  EXPECT_EQ(SerializeRelease(*rel), body);
  // Without measurements it is the 1.3 document again, minor and bytes.
  Release older = *rel;
  for (auto& [slot, uki] : older.boot->uki)
    uki.measurements.reset();
  EXPECT_EQ(SerializeRelease(older), Fixture("release-format-1.3.json"));
  // One slot with measurements is enough for minor 4.
  Release one = older;
  one.boot->uki.at("B").measurements = a;
  EXPECT_NE(SerializeRelease(one).find("\"format_minor\": 4"), std::string::npos);
  auto round = ParseRelease(SerializeRelease(one));
  ASSERT_TRUE(round.has_value()) << round.error().message();
  EXPECT_EQ(*round, one);

  auto refused = [&](const std::function<void(nlohmann::json&)>& edit, std::string_view what) {
    auto r = ParseRelease(Edited(body, edit));
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_EQ(r.error().message(), what);
  };
  const std::string m = "release.boot.uki.A.measurements";
  refused([](nlohmann::json& j) { j["boot"]["uki"]["A"]["measurements"] = "x"; },
          m + ": expected an object, got string");
  refused([](nlohmann::json& j) { j["boot"]["uki"]["A"]["measurements"].erase("pcr11"); },
          m + ".pcr11: required field is missing");
  refused([](nlohmann::json& j) { j["boot"]["uki"]["A"]["measurements"]["pcr11"] = "AB"; },
          m + ".pcr11: expected 64 hex digits, got 2");
  refused(
      [](nlohmann::json& j) {
        j["boot"]["uki"]["A"]["measurements"]["authenticode_sha256"] = std::string(64, 'A');
      },
      m + ".authenticode_sha256: not lower-case hex");
  refused([](nlohmann::json& j) { j["boot"]["uki"]["A"]["measurements"]["pcr12"] = "00"; },
          m + ".pcr12: unknown field");
  refused(
      [](nlohmann::json& j) {
        j["boot"]["uki"]["B"]["measurements"]["pcr11_phases"].erase("enter-initrd");
      },
      "release.boot.uki.B.measurements.pcr11_phases.enter-initrd: required field is missing");
  refused(
      [](nlohmann::json& j) {
        j["boot"]["uki"]["B"]["measurements"]["pcr11_phases"]["shutdown"] = std::string(64, '0');
      },
      "release.boot.uki.B.measurements.pcr11_phases.shutdown: unknown field");
  refused(
      [](nlohmann::json& j) {
        j["boot"]["uki"]["B"]["measurements"]["pcr11_phases"]["enter-initrd"] = 7;
      },
      "release.boot.uki.B.measurements.pcr11_phases.enter-initrd: expected a string, got number");

  // A newer minor's additions inside measurements are ignored, like anywhere else.
  auto newer = ParseRelease(Edited(body, [](nlohmann::json& j) {
    j["format_minor"] = kReleaseFormatMinor + 1;
    j["boot"]["uki"]["A"]["measurements"]["pcr4_log"] = {1, 2};
    j["boot"]["uki"]["A"]["measurements"]["pcr11_phases"]["shutdown"] = std::string(64, '0');
  }));
  ASSERT_TRUE(newer.has_value()) << newer.error().message();
  EXPECT_EQ(newer->boot->uki.at("A").measurements, a);
}

}  // namespace
}  // namespace basalt::repo
