// Publishing, channel operations and `repo verify` over a repository directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "repo/channel_ops.h"
#include "repo/repo_verify.h"
#include "test_pe.h"
#include "unit/repo_test_payload.h"
#include "unit/repo_test_util.h"

namespace basalt::repo {
namespace {
using namespace testing;
namespace fs = std::filesystem;

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ring_.Add(keys_[0].public_key());
    WriteImageDir(fs::path(tmp_.path()) / "img1", "1.0.0", 'a');
    WriteImageDir(fs::path(tmp_.path()) / "img2", "2.0.0", 'b');
  }
  Result<Release> Publish(const std::string& image, std::vector<std::string> deltas = {}) {
    PublishOptions o;
    o.repo_dir = repo_.string();
    o.image_dir = (fs::path(tmp_.path()) / image).string();
    for (auto& d : deltas)
      o.delta_from.push_back((fs::path(tmp_.path()) / d).string());
    o.now = T0();
    return PublishRelease(o, keys_, &maker_, log_);
  }
  Result<Channel> Change(ChannelOp op) {
    return ChangeChannel(repo_.string(), "stable", op, keys_, T0(), std::chrono::days(7));
  }
  // img1's image.json, edited, published as 2.0.0 from img2: refused with a message holding
  // `what` (image.json is read strictly).
  void ExpectImageJsonRefused(const std::function<void(nlohmann::json&)>& edit,
                              std::string_view what) {
    const fs::path dir = fs::path(tmp_.path());
    auto k = nlohmann::json::parse(ReadAll(dir / "img1/image.json"));
    k["version"] = "2.0.0";
    edit(k);
    WriteAll(dir / "img2/image.json", k.dump(2));
    auto r = Publish("img2");
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
  }
  void BuildGoodRepo() {
    ASSERT_TRUE(Publish("img1").has_value());
    auto r2 = Publish("img2", {"img1"});
    ASSERT_TRUE(r2.has_value()) << r2.error().message();
    auto ch = Change({ChannelOpKind::kSet, "2.0.0", std::nullopt, false});
    ASSERT_TRUE(ch.has_value()) << ch.error().message();
  }

  TempDir tmp_;
  fs::path repo_ = fs::path(tmp_.path()) / "repo";
  std::vector<PrivateKey> keys_ = {NewKey()};
  Keyring ring_;
  FakePayloadMaker maker_;
  NullLogger log_;
};

TEST_F(RepositoryTest, PublishWritesASignedReleaseWithVerifiedPayloads) {
  ASSERT_TRUE(Publish("img1").has_value());
  auto rel = Publish("img2", {"img1"});
  ASSERT_TRUE(rel.has_value()) << rel.error().message();
  EXPECT_EQ(maker_.calls, 3);
  std::string env = ReadAll(repo_ / "releases/2.0.0/release.json");
  auto body = OpenVerified(env, kReleasePayloadType, ring_, 1);
  ASSERT_TRUE(body.has_value()) << body.error().message();
  auto parsed = ParseRelease(*body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, *rel);
  EXPECT_EQ(parsed->usr.root_hash, Hex64('b'));
  EXPECT_EQ(parsed->usr.data_size, 256u * 4096);
  EXPECT_EQ(parsed->input_digest, "sha256:" + Hex64('9'));
  ASSERT_EQ(parsed->payloads.size(), 2u);
  const PayloadRef& delta = parsed->payloads[1];
  EXPECT_EQ(delta.kind, PayloadKind::kDelta);
  EXPECT_EQ(delta.from_version, "1.0.0");
  EXPECT_EQ(delta.from_root_hash, Hex64('a'));
  for (const PayloadRef& p : parsed->payloads) {
    std::string data = ReadAll(repo_ / p.url);
    EXPECT_EQ(data.size(), p.size);
    EXPECT_EQ(ToHex(Sha256(data)), p.sha256);
  }
  EXPECT_TRUE(fs::exists(repo_ / "releases/2.0.0/sbom.spdx.json"));
}

// A uki image's image.json names its UKIs; the release names them for hosts (boot.uki, minor 3).
TEST_F(RepositoryTest, PublishNamesTheImagesUkisInTheRelease) {
  const fs::path img = fs::path(tmp_.path()) / "img1";
  auto j = nlohmann::json::parse(ReadAll(img / "image.json"));
  j["uki"] = {{"A", {{"file", "uki/A.efi"}, {"size", 1000}, {"sha256", Hex64('1')}}},
              {"B", {{"file", "uki/B.efi"}, {"size", 1001}, {"sha256", Hex64('2')}}}};
  WriteAll(img / "image.json", j.dump(2));
  auto rel = Publish("img1");
  ASSERT_TRUE(rel.has_value()) << rel.error().message();
  ASSERT_TRUE(rel->boot.has_value());
  EXPECT_EQ(rel->boot->uki.at("A"), (BootArtifactInfo{1000, Hex64('1')}));
  EXPECT_EQ(rel->boot->uki.at("B"), (BootArtifactInfo{1001, Hex64('2')}));
  auto body =
      OpenVerified(ReadAll(repo_ / "releases/1.0.0/release.json"), kReleasePayloadType, ring_, 1);
  ASSERT_TRUE(body.has_value());
  EXPECT_NE(body->find("\"format_minor\": 3"), std::string::npos) << *body;

  // image.json's uki is read strictly: both slots, exactly the known fields, a file inside.
  auto refused = [&](const std::function<void(nlohmann::json&)>& edit, std::string_view what) {
    ExpectImageJsonRefused(edit, what);
  };
  refused([](nlohmann::json& k) { k["uki"].erase("B"); }, "image.uki.B: required field is missing");
  refused([](nlohmann::json& k) { k["uki"]["A"]["path"] = "x"; },
          "image.uki.A.path: unknown field");
  refused([](nlohmann::json& k) { k["uki"]["A"]["file"] = "../A.efi"; }, "image.uki.A.file");
  refused([](nlohmann::json& k) { k["uki"]["B"]["sha256"] = "zz"; }, "image.uki.B.sha256");
}

// image.json's uki.<slot>.measurements (images built since issue 20) are measured again from the
// UKIs and signed into the release (boot.uki.<slot>.measurements, minor 4); image.json's are read
// strictly too.
TEST_F(RepositoryTest, PublishCarriesTheImagesUkiMeasurements) {
  const fs::path img = fs::path(tmp_.path()) / "img1";
  auto j = nlohmann::json::parse(ReadAll(img / "image.json"));
  j["uki"] = nlohmann::json::object();
  std::map<std::string, attest::UkiMeasurements> expected;
  for (const char* slot : {"A", "B"}) {
    const std::string uki = basalt::testing::MakePe(
        {{".osrel", "ID=basalt\n"}, {".cmdline", std::string("slot=") + slot}, {".linux", "k"}});
    // img2 gets them too: ExpectImageJsonRefused publishes img1's edited image.json from there.
    for (const char* dir : {"img1", "img2"}) {
      const fs::path d = fs::path(tmp_.path()) / dir / "uki";
      fs::create_directories(d);
      WriteAll(d / (std::string(slot) + ".efi"), uki);
    }
    auto m = attest::MeasureUki(uki);
    ASSERT_TRUE(m.has_value()) << m.error().message();
    expected[slot] = *m;
    j["uki"][slot] = {{"file", std::string("uki/") + slot + ".efi"},
                      {"size", uki.size()},
                      {"sha256", ToHex(Sha256(uki))},
                      {"measurements",
                       {{"authenticode_sha256", m->authenticode_sha256},
                        {"pcr11", m->pcr11},
                        {"pcr11_phases", m->pcr11_phases}}}};
  }
  WriteAll(img / "image.json", j.dump(2));
  auto rel = Publish("img1");
  ASSERT_TRUE(rel.has_value()) << rel.error().message();
  ASSERT_TRUE(rel->boot.has_value());
  for (const char* slot : {"A", "B"}) {
    EXPECT_EQ(rel->boot->uki.at(slot).measurements, expected.at(slot)) << slot;
  }
  auto body =
      OpenVerified(ReadAll(repo_ / "releases/1.0.0/release.json"), kReleasePayloadType, ring_, 1);
  ASSERT_TRUE(body.has_value());
  EXPECT_NE(body->find("\"format_minor\": 4"), std::string::npos) << *body;
  auto parsed = ParseRelease(*body);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_EQ(parsed->boot, rel->boot);

  auto refused = [&](const std::function<void(nlohmann::json&)>& edit, std::string_view what) {
    ExpectImageJsonRefused(edit, what);
  };
  refused([](nlohmann::json& k) { k["uki"]["A"]["measurements"]["pcr11"] = "00"; },
          "image.uki.A.measurements.pcr11: expected 64 hex digits, got 2");
  refused([](nlohmann::json& k) { k["uki"]["B"]["measurements"]["pcr7"] = Hex64('0'); },
          "image.uki.B.measurements.pcr7: unknown field");
  refused(
      [](nlohmann::json& k) {
        k["uki"]["B"]["measurements"]["pcr11_phases"]["shutdown"] = Hex64('0');
      },
      "image.uki.B.measurements.pcr11_phases.shutdown: unknown field");
  refused([](nlohmann::json& k) { k["uki"]["A"]["measurements"].erase("pcr11_phases"); },
          "image.uki.A.measurements.pcr11_phases: required field is missing");
  // Well formed but not what the UKI measures: refused before anything is signed.
  refused([](nlohmann::json& k) { k["uki"]["B"]["measurements"]["pcr11"] = std::string(64, '0'); },
          "image.json's uki.B.measurements do not match");
  refused([](nlohmann::json& k) { k["uki"]["B"]["size"] = 1; },
          "is not the UKI image.json's uki.B describes");
}

TEST_F(RepositoryTest, ReleasesAreImmutable) {
  ASSERT_TRUE(Publish("img1").has_value());
  std::string before = ReadAll(repo_ / "releases/1.0.0/release.json");
  auto again = Publish("img1");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().kind(), ErrorKind::kPolicy);
  EXPECT_NE(again.error().message().find("immutable"), std::string::npos);
  EXPECT_EQ(ReadAll(repo_ / "releases/1.0.0/release.json"), before);
}

TEST_F(RepositoryTest, FailedPublishLeavesNothingBehind) {
  maker_.fail = true;
  ASSERT_FALSE(Publish("img1").has_value());
  EXPECT_FALSE(fs::exists(repo_ / "releases/1.0.0"));
  for (const auto& e : fs::directory_iterator(repo_ / "releases")) {
    ADD_FAILURE() << "left behind: " << e.path();
  }
}

// An image built without a version records 0.0.0; publishing it would take a version every
// later unversioned build collides with, and a v-prefixed version would sort above every number.
TEST_F(RepositoryTest, PublishRefusesUnversionedAndMalformedVersions) {
  WriteImageDir(fs::path(tmp_.path()) / "img0", "0.0.0", 'c');
  auto r = Publish("img0");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(r.error().message().find("built without a version"), std::string::npos)
      << r.error().message();
  EXPECT_FALSE(fs::exists(repo_ / "releases/0.0.0"));
  WriteImageDir(fs::path(tmp_.path()) / "imgv", "v2.0.0", 'd');
  r = Publish("imgv");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("must start with a digit"), std::string::npos)
      << r.error().message();
}

TEST_F(RepositoryTest, PublishWithoutGeneratorNeedsAPremadePayload) {
  PublishOptions o;
  o.repo_dir = repo_.string();
  o.image_dir = (fs::path(tmp_.path()) / "img1").string();
  o.now = T0();
  auto r = PublishRelease(o, keys_, nullptr, log_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind(), ErrorKind::kUnsupported);
  std::string premade = MakeTestPayload(ForImage("1.0.0", 'a'), keys_[0]);
  WriteAll(fs::path(tmp_.path()) / "premade.payload", premade);
  o.full_payload = (fs::path(tmp_.path()) / "premade.payload").string();
  r = PublishRelease(o, keys_, nullptr, log_);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->payloads[0].size, premade.size());
  EXPECT_EQ(r->payloads[0].sha256, ToHex(Sha256(premade)));
  EXPECT_EQ(ReadAll(repo_ / "releases/1.0.0/full.payload"), premade);
}

// Every file the release names is whole in the published directory, and no staging directory
// is left. (That each is fsynced before the rename is a code review matter: CopyFileDurable,
// MoveInto and WriteFileAtomic in publish.cc, then FsyncDirectory of the staging directory
// before Commit's rename and of releases/ after it.)
TEST_F(RepositoryTest, PublishedFilesAreCompleteCopies) {
  std::string premade = MakeTestPayload(ForImage("1.0.0", 'a'), keys_[0], 1 << 20);
  WriteAll(fs::path(tmp_.path()) / "premade.payload", premade);
  PublishOptions o;
  o.repo_dir = repo_.string();
  o.image_dir = (fs::path(tmp_.path()) / "img1").string();
  o.full_payload = (fs::path(tmp_.path()) / "premade.payload").string();
  o.now = T0();
  auto r = PublishRelease(o, keys_, nullptr, log_);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(ReadAll(repo_ / "releases/1.0.0/full.payload"), premade);
  std::string sbom = ReadAll(repo_ / "releases/1.0.0/sbom.spdx.json");
  EXPECT_EQ(sbom, ReadAll(fs::path(tmp_.path()) / "img1/sbom.spdx.json"));
  EXPECT_EQ(ToHex(Sha256(sbom)), r->sbom_sha256);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(repo_ / "releases"))
    names.push_back(e.path().filename().string());
  EXPECT_THAT(names, ::testing::ElementsAre("1.0.0"));
}

// An imported payload for another image is refused before anything is staged, with one line
// naming the file and the field.
TEST_F(RepositoryTest, ImportedPayloadForAnotherImageIsRefused) {
  fs::path file = fs::path(tmp_.path()) / "imported.payload";
  auto publish = [&](const std::string& bytes) {
    WriteAll(file, bytes);
    PublishOptions o;
    o.repo_dir = repo_.string();
    o.image_dir = (fs::path(tmp_.path()) / "img1").string();
    o.full_payload = file.string();
    o.now = T0();
    return PublishRelease(o, keys_, nullptr, log_);
  };
  auto expect_refused = [&](const std::string& bytes, const std::string& field, ErrorKind kind) {
    SCOPED_TRACE(field);
    auto r = publish(bytes);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind(), kind);
    std::string msg = r.error().message();
    EXPECT_THAT(msg, ::testing::HasSubstr("--payload " + file.string() + ": "));
    EXPECT_THAT(msg, ::testing::HasSubstr(field));
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(repo_ / "releases/1.0.0"));
  };
  TestPayloadTarget good = ForImage("1.0.0", 'a');
  auto with = [&](auto change) {
    TestPayloadTarget t = good;
    change(t);
    return MakeTestPayload(t, keys_[0]);
  };
  expect_refused(with([](auto& t) { t.version = "2.0.0"; }),
                 "target version 2.0.0 does not match image.json's version 1.0.0",
                 ErrorKind::kInvalidInput);
  expect_refused(with([](auto& t) { t.root_hash = Hex64('b'); }),
                 "target usr root hash " + Hex64('b') +
                     " does not match image.json's usr.root_hash " + Hex64('a'),
                 ErrorKind::kInvalidInput);
  expect_refused(with([](auto& t) { t.usr_size += 4096; }),
                 "target usr size 1069056 does not match image.json's usr.size 1064960",
                 ErrorKind::kInvalidInput);
  expect_refused(with([](auto& t) { t.from_version = "0.9.0"; }),
                 "is a delta from 0.9.0, not a full payload", ErrorKind::kInvalidInput);
  std::string ok = MakeTestPayload(good, keys_[0]);
  expect_refused(ok.substr(0, ok.size() - 1), "file size", ErrorKind::kInvalidInput);
  expect_refused(ok + "x", "file size", ErrorKind::kInvalidInput);
  expect_refused(std::string(64, 'x'), "bad magic", ErrorKind::kInvalidInput);
  // Signed by a key that is not one of the publishing (release) keys: no host would trust it.
  expect_refused(MakeTestPayload(good, NewKey()), "signature", ErrorKind::kInvalidInput);
  // And the well-formed one for this image goes through.
  auto r = publish(ok);
  ASSERT_TRUE(r.has_value()) << r.error().message();
}

TEST_F(RepositoryTest, DeltaFromAnImageThatDiffersFromThePublishedReleaseIsRefused) {
  ASSERT_TRUE(Publish("img1").has_value());
  WriteImageDir(fs::path(tmp_.path()) / "img1-rebuilt", "1.0.0", 'c');
  auto r = Publish("img2", {"img1-rebuilt"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind(), ErrorKind::kIntegrity);
  EXPECT_FALSE(fs::exists(repo_ / "releases/2.0.0"));
}

TEST_F(RepositoryTest, ChannelChangesBumpTheVersionAndAreSigned) {
  BuildGoodRepo();
  auto ch = Change({ChannelOpKind::kPause, "", std::nullopt, false});
  ASSERT_TRUE(ch.has_value());
  EXPECT_EQ(ch->metadata_version, 2u);
  EXPECT_TRUE(ch->paused);
  auto body = OpenVerified(ReadAll(repo_ / "channels/stable.json"), kChannelPayloadType, ring_, 1);
  ASSERT_TRUE(body.has_value());
  auto parsed = ParseChannel(*body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, *ch);
  EXPECT_EQ(parsed->expires, T0() + std::chrono::days(7));
}

TEST(ChannelOps, Rules) {
  auto exists = [](const std::string& v) { return v == "1.0.0" || v == "1.5.0" || v == "2.0.0"; };
  auto apply = [&](const std::optional<Channel>& cur, ChannelOp op) {
    return ApplyChannelOp(cur, "stable", op, exists, T0(), std::chrono::days(1));
  };
  auto opt = [](const Result<Channel>& r) { return r ? std::optional<Channel>(*r) : std::nullopt; };
  auto kind_of = [](const Result<Channel>& r) {
    return r ? ErrorKind::kInternal : r.error().kind();
  };

  EXPECT_EQ(kind_of(apply(std::nullopt, {ChannelOpKind::kPause, "", {}, false})),
            ErrorKind::kNotFound);
  EXPECT_EQ(kind_of(apply(std::nullopt, {ChannelOpKind::kSet, "3.0.0", {}, false})),
            ErrorKind::kNotFound);
  auto c1 = apply(std::nullopt, {ChannelOpKind::kSet, "1.5.0", {}, false});
  ASSERT_TRUE(c1.has_value());
  EXPECT_EQ(c1->metadata_version, 1u);
  EXPECT_EQ(c1->expires, T0() + std::chrono::days(1));

  // set never goes backwards; rollback does, with allow_downgrade and no wave.
  EXPECT_EQ(kind_of(apply(opt(c1), {ChannelOpKind::kSet, "1.0.0", {}, false})), ErrorKind::kPolicy);
  auto staged =
      apply(opt(c1), {ChannelOpKind::kSet, "2.0.0", Rollout{T0(), std::chrono::hours(4)}, false});
  ASSERT_TRUE(staged.has_value());
  EXPECT_EQ(staged->metadata_version, 2u);
  ASSERT_TRUE(staged->rollout.has_value());
  auto back = apply(opt(staged), {ChannelOpKind::kRollback, "1.5.0", {}, false});
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->allow_downgrade);
  EXPECT_FALSE(back->rollout.has_value());
  EXPECT_EQ(back->release, "1.5.0");
  EXPECT_EQ(kind_of(apply(opt(back), {ChannelOpKind::kRollback, "2.0.0", {}, false})),
            ErrorKind::kPolicy);
  auto forward = apply(opt(back), {ChannelOpKind::kSet, "2.0.0", {}, false});
  ASSERT_TRUE(forward.has_value());
  EXPECT_FALSE(forward->allow_downgrade);

  // A pinned channel moves only by pin or set --force.
  auto pinned = apply(opt(forward), {ChannelOpKind::kPin, "1.5.0", {}, false});
  ASSERT_TRUE(pinned.has_value());
  EXPECT_TRUE(pinned->pinned);
  EXPECT_TRUE(pinned->allow_downgrade);
  EXPECT_EQ(kind_of(apply(opt(pinned), {ChannelOpKind::kSet, "2.0.0", {}, false})),
            ErrorKind::kPolicy);
  auto forced = apply(opt(pinned), {ChannelOpKind::kSet, "2.0.0", {}, true});
  ASSERT_TRUE(forced.has_value());
  EXPECT_FALSE(forced->pinned);

  // Floors must sit below the release.
  EXPECT_EQ(kind_of(apply(opt(forced), {ChannelOpKind::kFloor, "2.0.0", {}, false})),
            ErrorKind::kPolicy);
  auto floored = apply(opt(forced), {ChannelOpKind::kFloor, "1.5.0", {}, false});
  ASSERT_TRUE(floored.has_value());
  EXPECT_EQ(floored->floor, "1.5.0");
  auto cleared = apply(opt(floored), {ChannelOpKind::kFloor, "", {}, false});
  ASSERT_TRUE(cleared.has_value());
  EXPECT_FALSE(cleared->floor.has_value());

  auto paused = apply(opt(forced), {ChannelOpKind::kPause, "", {}, false});
  ASSERT_TRUE(paused && paused->paused);
  auto resumed = apply(opt(paused), {ChannelOpKind::kResume, "", {}, false});
  ASSERT_TRUE(resumed && !resumed->paused);
  EXPECT_EQ(resumed->metadata_version, forced->metadata_version + 2);
}

TEST_F(RepositoryTest, VerifyAcceptsAGoodRepository) {
  BuildGoodRepo();
  VerifyReport r = VerifyRepository(repo_.string(), ring_, 1, T0());
  EXPECT_TRUE(r.ok()) << fmt::format("{}", fmt::join(r.problems, "\n"));
  EXPECT_EQ(r.releases, 2u);
  EXPECT_EQ(r.channels, 1u);
  EXPECT_EQ(r.payloads, 3u);
}

TEST_F(RepositoryTest, VerifyReportsEveryTamperedFile) {
  BuildGoodRepo();
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(repo_)) {
    fs::path rel = fs::relative(e.path(), repo_);
    // channels/history/ is the operator's record, which hosts never read: not verified.
    if (e.is_regular_file() && !rel.string().starts_with("channels/history/")) {
      files.push_back(rel);
    }
  }
  ASSERT_EQ(files.size(), 8u);  // 2 x (release.json, sbom) + 3 payloads + 1 channel
  for (const fs::path& rel : files) {
    SCOPED_TRACE(rel.string());
    fs::path copy = fs::path(tmp_.path()) / "tampered";
    fs::remove_all(copy);
    fs::copy(repo_, copy, fs::copy_options::recursive);
    std::string data = ReadAll(copy / rel);
    // Flip a byte in the middle: for envelopes that lands in the base64 payload or signature.
    data[data.size() / 2] = data[data.size() / 2] == 'A' ? 'B' : 'A';
    WriteAll(copy / rel, data);
    VerifyReport r = VerifyRepository(copy.string(), ring_, 1, T0());
    ASSERT_FALSE(r.ok());
    bool named = false;
    for (const auto& p : r.problems)
      named |= p.find(rel.string()) != std::string::npos;
    EXPECT_TRUE(named) << fmt::format("{}", fmt::join(r.problems, "\n"));
  }
}

TEST_F(RepositoryTest, VerifyReportsEveryProblemNotJustTheFirst) {
  BuildGoodRepo();
  fs::remove(repo_ / "releases/1.0.0/full.payload");
  WriteAll(repo_ / "releases/2.0.0/stray.bin", "x");
  VerifyReport r = VerifyRepository(repo_.string(), ring_, 1, T0() + std::chrono::days(8));
  std::string all = fmt::format("{}", fmt::join(r.problems, "\n"));
  EXPECT_NE(all.find("releases/1.0.0/full.payload"), std::string::npos) << all;
  EXPECT_NE(all.find("stray.bin"), std::string::npos) << all;
  EXPECT_NE(all.find("expired"), std::string::npos) << all;
  EXPECT_EQ(r.problems.size(), 3u) << all;
}

TEST_F(RepositoryTest, VerifyChecksCrossReferences) {
  BuildGoodRepo();
  // A channel that names an unpublished release, signed with the right key.
  Channel ch = MakeChannel("3.0.0");
  ch.expires = T0() + std::chrono::days(1);
  WriteAll(repo_ / "channels/stable.json",
           Sign(kChannelPayloadType, SerializeChannel(ch), keys_[0]));
  // A release stored under the wrong directory.
  fs::rename(repo_ / "releases/1.0.0", repo_ / "releases/1.0.1");
  VerifyReport r = VerifyRepository(repo_.string(), ring_, 1, T0());
  std::string all = fmt::format("{}", fmt::join(r.problems, "\n"));
  EXPECT_NE(all.find("names release 3.0.0"), std::string::npos) << all;
  EXPECT_NE(all.find("signed for version 1.0.0, stored under 1.0.1"), std::string::npos) << all;
}

// `channel set` binds the channel to the release document it saw; verify notices when the
// document under that version is another one (re-signed or swapped in), as hosts would.
TEST_F(RepositoryTest, ChannelsAreBoundToTheirReleaseDocument) {
  BuildGoodRepo();
  auto ch = LoadChannelFile(repo_.string(), "stable");
  ASSERT_TRUE(ch && *ch);
  const std::string text = ReadAll(repo_ / "releases" / (*ch)->release / "release.json");
  auto env = ParseEnvelope(text);
  ASSERT_TRUE(env);
  EXPECT_EQ((*ch)->release_sha256, std::optional<std::string>(ToHex(Sha256(env->payload))));
  // Written as format minor 1, the lowest that holds the field.
  auto served = ParseEnvelope(ReadAll(repo_ / "channels/stable.json"));
  ASSERT_TRUE(served);
  EXPECT_NE(served->payload.find("\"format_minor\": 1"), std::string::npos) << served->payload;

  Release other = MakeRelease((*ch)->release, 'f');
  WriteAll(repo_ / "releases" / (*ch)->release / "release.json",
           Sign(kReleasePayloadType, SerializeRelease(other), keys_[0]));
  VerifyReport r = VerifyRepository(repo_.string(), ring_, 1, T0());
  std::string all = fmt::format("{}", fmt::join(r.problems, "\n"));
  EXPECT_NE(all.find("channels/stable.json: bound to release document"), std::string::npos) << all;
}

TEST_F(RepositoryTest, ChangesKeepEverySignedDocumentInHistoryWhichVerifyIgnores) {
  BuildGoodRepo();
  ASSERT_TRUE(Change({ChannelOpKind::kPause, "", std::nullopt, false}).has_value());
  ASSERT_TRUE(Change({ChannelOpKind::kRenew, "", std::nullopt, false}).has_value());
  auto history = LoadChannelHistory(repo_.string(), "stable");
  ASSERT_TRUE(history.has_value()) << history.error().message();
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].metadata_version, 1u);
  EXPECT_FALSE((*history)[0].paused);
  EXPECT_TRUE((*history)[1].paused);
  EXPECT_EQ((*history)[2].metadata_version, 3u);
  // The newest history copy is byte for byte the live document.
  EXPECT_EQ(ReadAll(repo_ / "channels/history/stable/3.json"),
            ReadAll(repo_ / "channels/stable.json"));

  // Hosts never read history: verify counts one channel, not four.
  VerifyReport r = VerifyRepository(repo_.string(), ring_, 1, T0());
  EXPECT_TRUE(r.ok()) << fmt::format("{}", fmt::join(r.problems, "\n"));
  EXPECT_EQ(r.channels, 1u);
  auto list = ListChannels(repo_.string());
  ASSERT_TRUE(list.has_value()) << list.error().message();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "stable");

  // Channel names are checked before they become a path.
  EXPECT_FALSE(LoadChannelHistory(repo_.string(), "../releases").has_value());
  // A channel that never existed is not found (exit 6), not an empty history; so is a
  // mistyped repository.
  auto other = LoadChannelHistory(repo_.string(), "other");
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().kind(), ErrorKind::kNotFound);
  auto nowhere = ListChannels((repo_ / "nope").string());
  ASSERT_FALSE(nowhere.has_value());
  EXPECT_EQ(nowhere.error().kind(), ErrorKind::kNotFound);
}

TEST_F(RepositoryTest, VerifyWarnsAboutAChannelExpiringSoon) {
  BuildGoodRepo();  // expires T0 + 7 days
  // The reported case: 23 minutes before expiry verify said OK without a word.
  VerifyReport r = VerifyRepository(repo_.string(), ring_, 1,
                                    T0() + std::chrono::days(7) - std::chrono::minutes(23));
  EXPECT_TRUE(r.ok()) << fmt::format("{}", fmt::join(r.problems, "\n"));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("channels/stable.json"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[0].find("in 23m"), std::string::npos) << r.warnings[0];
  // Outside the window: nothing; a wider window warns earlier.
  EXPECT_TRUE(
      VerifyRepository(repo_.string(), ring_, 1, T0() - std::chrono::hours(1)).warnings.empty());
  EXPECT_EQ(VerifyRepository(repo_.string(), ring_, 1, T0(), std::chrono::days(8)).warnings.size(),
            1u);
}

}  // namespace
}  // namespace basalt::repo
