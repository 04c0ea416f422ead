// The repository's root document (repo/root.h): strict parsing, the trusted first root, TUF's
// root chain update (rotation, revocation, freeze and endless-chain defences) and the per-role
// trust a root gives Decide (repo/trust.h), with documents signed by real keys.
#include <gtest/gtest.h>

#include "repo/root.h"
#include "repo/trust.h"
#include "unit/repo_test_util.h"

namespace basalt::repo {
namespace {
using namespace testing;
using Keys = std::vector<PrivateKey>;

constexpr std::string_view kRepository = "os.example";

std::vector<std::string> Ids(const Keys& keys) {
  std::vector<std::string> ids;
  for (const PrivateKey& k : keys)
    ids.push_back(k.id());
  std::sort(ids.begin(), ids.end());
  return ids;
}

Keys NewKeys(size_t n) {
  Keys keys;
  for (size_t i = 0; i < n; ++i)
    keys.push_back(NewKey());
  return keys;
}

Keys Concat(const Keys& a, const Keys& b) {
  Keys out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// The keys of one root: each role's signers and threshold.
struct RootKeys {
  Keys root = NewKeys(1), release = NewKeys(1), channel = NewKeys(1);
  size_t root_threshold = 1, release_threshold = 1, channel_threshold = 1;
};

Root MakeRoot(uint64_t version, const RootKeys& k) {
  Root r;
  r.repository = std::string(kRepository);
  r.version = version;
  r.expires = T0() + std::chrono::days(365);
  for (const Keys* ks : {&k.root, &k.release, &k.channel}) {
    for (const PrivateKey& key : *ks)
      r.keys.emplace(key.id(), key.public_key());
  }
  r.root = {Ids(k.root), k.root_threshold};
  r.release = {Ids(k.release), k.release_threshold};
  r.channel = {Ids(k.channel), k.channel_threshold};
  return r;
}

std::string SignRoot(const Root& root, const Keys& signers,
                     std::string_view type = kRootPayloadType) {
  auto env = SignEnvelope(type, SerializeRoot(root), signers);
  EXPECT_TRUE(env.has_value()) << env.error().message();
  return env.value_or("");
}

void ExpectSameRoot(const Root& a, const Root& b) {
  EXPECT_EQ(a.repository, b.repository);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.expires, b.expires);
  ASSERT_EQ(a.keys.size(), b.keys.size());
  for (const auto& [id, key] : a.keys) {
    auto it = b.keys.find(id);
    ASSERT_NE(it, b.keys.end()) << id;
    EXPECT_EQ(it->second.id(), key.id());
    EXPECT_EQ(it->second.ToPem(), key.ToPem());
  }
  EXPECT_EQ(a.root, b.root);
  EXPECT_EQ(a.release, b.release);
  EXPECT_EQ(a.channel, b.channel);
}

// ---- ParseRoot / SerializeRoot ----

class ParseRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_.release = NewKeys(2);
    keys_.release_threshold = 2;
    keys_.channel = NewKeys(3);
    keys_.channel_threshold = 2;
    root_ = MakeRoot(3, keys_);
    doc_ = nlohmann::json::parse(SerializeRoot(root_));
  }
  // ParseRoot of doc_ must fail with kInvalidInput naming `field`, saying `what`.
  void ExpectRejected(const std::string& field, const std::string& what) {
    auto r = ParseRoot(doc_.dump());
    ASSERT_FALSE(r.has_value()) << "accepted: " << doc_.dump();
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(r.error().message().find(field), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
  }

  RootKeys keys_;
  Root root_;
  nlohmann::json doc_;
};

TEST_F(ParseRootTest, SerializeThenParseRoundTrips) {
  auto r = ParseRoot(SerializeRoot(root_));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ExpectSameRoot(*r, root_);
  EXPECT_EQ(SerializeRoot(*r), SerializeRoot(root_));
  EXPECT_EQ(r->channel.threshold, 2u);
  EXPECT_EQ(r->channel.key_ids.size(), 3u);
  EXPECT_EQ(r->KeyringFor(Role::kChannel).size(), 3u);
  EXPECT_EQ(r->KeyringFor(Role::kRoot).size(), 1u);
}

TEST_F(ParseRootTest, KeyIdsAreSortedWhateverTheDocumentsOrder) {
  auto& ids = doc_["roles"]["channel"]["keyids"];
  std::reverse(ids.begin(), ids.end());
  auto r = ParseRoot(doc_.dump());
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->channel.key_ids, Ids(keys_.channel));
}

TEST_F(ParseRootTest, RoleNamesRoundTrip) {
  for (Role role : {Role::kRoot, Role::kRelease, Role::kChannel}) {
    auto parsed = ParseRole(RoleName(role));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, role);
  }
  auto bad = ParseRole("admin");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("expected root, release or channel"), std::string::npos);
}

TEST_F(ParseRootTest, UnknownTopLevelField) {
  doc_["mirrors"] = nlohmann::json::array();
  ExpectRejected("root.mirrors", "unknown field");
}

TEST_F(ParseRootTest, UnknownRole) {
  doc_["roles"]["admin"] = doc_["roles"]["root"];
  ExpectRejected("root.roles.admin", "unknown field");
}

TEST_F(ParseRootTest, UnknownFieldInARole) {
  doc_["roles"]["release"]["expires"] = "2030-01-01T00:00:00Z";
  ExpectRejected("root.roles.release.expires", "unknown field");
}

TEST_F(ParseRootTest, NewerFormatMinorIgnoresUnknownFieldsAtEveryLevel) {
  doc_["format_minor"] = kRootFormatMinor + 1;
  doc_["mirrors"] = nlohmann::json::array();
  doc_["roles"]["release"]["expires"] = "2030-01-01T00:00:00Z";
  doc_["roles"]["timestamp"] = doc_["roles"]["root"];
  auto r = ParseRoot(doc_.dump());
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ExpectSameRoot(*r, root_);
}

TEST_F(ParseRootTest, MissingFields) {
  for (const char* field : {"repository", "version", "expires", "keys", "roles"}) {
    SCOPED_TRACE(field);
    nlohmann::json saved = doc_;
    doc_.erase(field);
    ExpectRejected(fmt::format("root.{}", field), "required field is missing");
    doc_ = saved;
  }
  doc_["roles"].erase("channel");
  ExpectRejected("root.roles.channel", "required field is missing");
  doc_ = nlohmann::json::parse(SerializeRoot(root_));
  doc_["roles"]["root"].erase("threshold");
  ExpectRejected("root.roles.root.threshold", "required field is missing");
}

TEST_F(ParseRootTest, MistypedFields) {
  doc_["version"] = "3";
  ExpectRejected("root.version", "expected a non-negative integer");
  doc_["version"] = -1;
  ExpectRejected("root.version", "must not be negative");
  doc_["version"] = 0;
  ExpectRejected("root.version", "must be 1 .. 2^64-2");
  doc_["version"] = UINT64_MAX;  // would leave no successor
  ExpectRejected("root.version", "must be 1 .. 2^64-2");
  doc_["version"] = 3;
  doc_["expires"] = "next year";
  ExpectRejected("root.expires", "");
  doc_["expires"] = FormatTime(root_.expires);
  doc_["keys"] = nlohmann::json::array();
  ExpectRejected("root.keys", "expected an object");
  doc_ = nlohmann::json::parse(SerializeRoot(root_));
  doc_["roles"]["channel"]["keyids"] = "all";
  ExpectRejected("root.roles.channel.keyids", "expected an array");
  doc_["roles"]["channel"]["keyids"] = {7};
  ExpectRejected("root.roles.channel.keyids[0]", "expected a string");
}

TEST_F(ParseRootTest, RepositoryMustBeASafeName) {
  doc_["repository"] = "../etc";
  ExpectRejected("root.repository", "");
  doc_["repository"] = "OS.example";
  ExpectRejected("root.repository", "may hold only");
}

TEST_F(ParseRootTest, KeyIdMustMatchThePem) {
  const std::string release0 = Ids(keys_.release)[0], release1 = Ids(keys_.release)[1];
  doc_["keys"][release0] = doc_["keys"][release1];  // release1's key listed under release0's id
  ExpectRejected("root.keys." + release0, "the key's id is " + release1);
}

TEST_F(ParseRootTest, KeyMustBeAPublicKey) {
  const std::string id = Ids(keys_.release)[0];
  doc_["keys"][id] = "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n";
  ExpectRejected("root.keys." + id, "");
  doc_["keys"][id] = 5;
  ExpectRejected("root.keys." + id, "expected a PEM public key string");
}

TEST_F(ParseRootTest, KeyIdMustBeHex) {
  doc_["keys"]["NOT-HEX"] = doc_["keys"][Ids(keys_.release)[0]];
  ExpectRejected("root.keys.NOT-HEX", "expected 64 hex digits");
}

TEST_F(ParseRootTest, RoleNamingAnUnknownKey) {
  const std::string stranger = NewKey().id();
  doc_["roles"]["release"]["keyids"].push_back(stranger);
  ExpectRejected("root.roles.release.keyids[2]", "is not in keys");
}

TEST_F(ParseRootTest, RoleRepeatingAKey) {
  doc_["roles"]["channel"]["keyids"].push_back(Ids(keys_.channel)[1]);
  ExpectRejected("root.roles.channel.keyids[3]", "is listed twice");
}

TEST_F(ParseRootTest, ThresholdZero) {
  doc_["roles"]["root"]["threshold"] = 0;
  ExpectRejected("root.roles.root.threshold", "0 cannot be met by 1 key(s)");
}

TEST_F(ParseRootTest, ThresholdAboveKeyCount) {
  doc_["roles"]["channel"]["threshold"] = 4;
  ExpectRejected("root.roles.channel.threshold", "4 cannot be met by 3 key(s)");
  doc_["roles"]["channel"]["threshold"] = 3;
  EXPECT_TRUE(ParseRoot(doc_.dump()).has_value());
}

TEST_F(ParseRootTest, RoleWithoutKeys) {
  doc_["roles"]["release"]["keyids"] = nlohmann::json::array();
  doc_["roles"]["release"]["threshold"] = 1;
  ExpectRejected("root.roles.release.threshold", "cannot be met by 0 key(s)");
}

TEST_F(ParseRootTest, NotJson) {
  auto r = ParseRoot("{\"repository\": ");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(r.error().message().find("not valid JSON"), std::string::npos) << r.error().message();
}

// ---- OpenTrustedRoot ----

TEST(OpenTrustedRootTest, SignedByItsOwnRootKeys) {
  RootKeys k;
  Root root = MakeRoot(1, k);
  const std::string env = SignRoot(root, k.root);
  auto r = OpenTrustedRoot(env, "/usr/share/basalt/root.json");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ExpectSameRoot(r->root, root);
  EXPECT_EQ(r->envelope, env);  // kept verbatim
}

TEST(OpenTrustedRootTest, SignedByAnotherRolesKeyIsRefused) {
  RootKeys k;
  Root root = MakeRoot(4, k);
  auto r = OpenTrustedRoot(SignRoot(root, Concat(k.release, k.channel)), "/var/lib/root.json");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind(), ErrorKind::kIntegrity);
  EXPECT_NE(r.error().message().find(
                "root /var/lib/root.json (version 4) is not signed by its own root keys"),
            std::string::npos)
      << r.error().message();
}

TEST(OpenTrustedRootTest, NeedsAThresholdOfItsRootKeys) {
  RootKeys k;
  k.root = NewKeys(3);
  k.root_threshold = 2;
  Root root = MakeRoot(1, k);
  auto one = OpenTrustedRoot(SignRoot(root, {k.root[0]}), "root.json");
  ASSERT_FALSE(one.has_value());
  EXPECT_EQ(one.error().kind(), ErrorKind::kIntegrity);
  EXPECT_NE(one.error().message().find("not signed by its own root keys"), std::string::npos)
      << one.error().message();
  // Two signatures by the same key are one signer.
  auto same = OpenTrustedRoot(SignRoot(root, {k.root[0], k.root[0]}), "root.json");
  EXPECT_FALSE(same.has_value());
  auto two = OpenTrustedRoot(SignRoot(root, {k.root[0], k.root[2]}), "root.json");
  EXPECT_TRUE(two.has_value()) << two.error().message();
}

TEST(OpenTrustedRootTest, MalformedInputNamesTheFile) {
  auto garbage = OpenTrustedRoot("not an envelope", "/usr/share/basalt/root.json");
  ASSERT_FALSE(garbage.has_value());
  EXPECT_NE(garbage.error().message().find("root /usr/share/basalt/root.json"), std::string::npos)
      << garbage.error().message();
  RootKeys k;
  auto channel = OpenTrustedRoot(
      Sign(kChannelPayloadType, SerializeChannel(MakeChannel("1.0.0")), k.root[0]), "root.json");
  ASSERT_FALSE(channel.has_value());
  EXPECT_NE(channel.error().message().find("root root.json"), std::string::npos)
      << channel.error().message();
}

// ---- CheckRootSuccessor / UpdateRoot ----

// Serves roots/<version>.json from a map; versions not in it do not exist.
class MapRootFetcher : public RootFetcher {
 public:
  std::map<uint64_t, std::string> roots;
  std::vector<uint64_t> asked;
  std::optional<uint64_t> fail_at;  // this version fails with a retryable I/O error

  Result<std::optional<std::string>> FetchRoot(uint64_t version) override {
    asked.push_back(version);
    if (fail_at == version)
      return Failf(ErrorKind::kIo, "roots/{}.json: connection reset", version);
    auto it = roots.find(version);
    if (it == roots.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
};

class RootChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_.push_back(RootKeys{});
    auto first = OpenTrustedRoot(SignRoot(MakeRoot(1, keys_[0]), keys_[0].root), "first");
    ASSERT_TRUE(first.has_value()) << first.error().message();
    trusted_ = *first;
  }
  // The root of `version` with keys_[version - 1].
  Root RootV(uint64_t version) { return MakeRoot(version, keys_.at(version - 1)); }
  // Adds version keys_.size() + 1 with fresh keys of every role.
  RootKeys& NextKeys() {
    keys_.push_back(RootKeys{});
    return keys_.back();
  }
  // Signed by the previous root's root keys and its own, as a rotation must be.
  std::string Step(const Root& next) {
    return SignRoot(next, Concat(keys_.at(next.version - 2).root, keys_.at(next.version - 1).root));
  }
  // Serves rotations up to roots/<last>.json, each with fresh keys of every role, or, for long
  // chains, the first root's keys throughout (which then sign as the old and the new root keys).
  void ServeChain(uint64_t last, bool fresh_keys = true) {
    for (uint64_t v = keys_.size() + 1; v <= last; ++v) {
      keys_.push_back(fresh_keys ? RootKeys{} : keys_[0]);
      fetcher_.roots[v] = fresh_keys ? Step(RootV(v)) : SignRoot(RootV(v), keys_[0].root);
    }
  }
  std::optional<RootRefusal> Check(std::string_view envelope) {
    SignedRoot next;
    auto refusal = CheckRootSuccessor(trusted_.root, envelope, &next);
    if (!refusal) {
      EXPECT_EQ(next.envelope, envelope);
      EXPECT_EQ(next.root.version, trusted_.root.version + 1);
    }
    return refusal;
  }
  Result<RootUpdate> Update(TimePoint now = T0()) {
    return UpdateRoot(trusted_, fetcher_, now, [&](const SignedRoot& r) -> Status {
      kept_.push_back(r.root.version);
      if (keep_fails_at_ == r.root.version) return Fail(ErrorKind::kIo, "disk full");
      return {};
    });
  }
  static void ExpectRefusal(const std::optional<RootRefusal>& r, std::string_view code,
                            std::string_view fragment) {
    ASSERT_TRUE(r.has_value()) << "accepted";
    EXPECT_EQ(r->code, code) << r->reason;
    EXPECT_NE(r->reason.find(fragment), std::string::npos) << r->reason;
  }

  std::vector<RootKeys> keys_;  // keys_[i]: the keys of root version i + 1
  SignedRoot trusted_;
  MapRootFetcher fetcher_;
  std::vector<uint64_t> kept_;
  std::optional<uint64_t> keep_fails_at_;
};

TEST_F(RootChainTest, NoNewerRootKeepsTheTrustedOne) {
  auto u = Update();
  ASSERT_TRUE(u.has_value()) << u.error().message();
  EXPECT_FALSE(u->refusal.has_value());
  EXPECT_TRUE(u->accepted.empty());
  EXPECT_EQ(u->root.root.version, 1u);
  EXPECT_EQ(u->root.envelope, trusted_.envelope);
  EXPECT_EQ(fetcher_.asked, std::vector<uint64_t>({2}));
  EXPECT_TRUE(kept_.empty());
}

TEST_F(RootChainTest, RotationAcrossThreeVersionsReplacesEveryKey) {
  ServeChain(4);
  auto u = Update();
  ASSERT_TRUE(u.has_value()) << u.error().message();
  EXPECT_FALSE(u->refusal.has_value()) << u->refusal->reason;
  EXPECT_EQ(u->root.root.version, 4u);
  ExpectSameRoot(u->root.root, RootV(4));
  EXPECT_EQ(u->root.envelope, fetcher_.roots[4]);
  ASSERT_EQ(u->accepted.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(u->accepted[i].root.version, i + 2);
    EXPECT_EQ(u->accepted[i].envelope, fetcher_.roots[i + 2]);
  }
  EXPECT_EQ(kept_, std::vector<uint64_t>({2, 3, 4}));
  EXPECT_EQ(fetcher_.asked, std::vector<uint64_t>({2, 3, 4, 5}));
  // None of the first root's keys is left.
  for (const auto& key : Concat(keys_[0].root, Concat(keys_[0].release, keys_[0].channel)))
    EXPECT_FALSE(u->root.root.keys.contains(key.id()));
  // The newest root is a trusted root of its own from now on.
  auto reopened = OpenTrustedRoot(u->root.envelope, "stored");
  EXPECT_TRUE(reopened.has_value()) << reopened.error().message();
}

TEST_F(RootChainTest, StepSignedOnlyByTheNewKeysIsRefused) {
  const RootKeys& next = NextKeys();
  fetcher_.roots[2] = SignRoot(RootV(2), next.root);
  ExpectRefusal(Check(fetcher_.roots[2]), "bad-root-signature",
                "root version 2: not signed by the root keys of version 1");
  auto u = Update();
  ASSERT_TRUE(u.has_value()) << u.error().message();
  ExpectRefusal(u->refusal, "bad-root-signature", "not signed by the root keys of version 1");
  EXPECT_EQ(u->refusal->kind, ErrorKind::kIntegrity);
  EXPECT_EQ(u->root.root.version, 1u);
  EXPECT_EQ(u->root.envelope, trusted_.envelope);
  EXPECT_TRUE(u->accepted.empty());
  EXPECT_TRUE(kept_.empty());
}

TEST_F(RootChainTest, StepSignedOnlyByTheOldKeysIsRefused) {
  NextKeys();
  fetcher_.roots[2] = SignRoot(RootV(2), keys_[0].root);
  ExpectRefusal(Check(fetcher_.roots[2]), "bad-root-signature",
                "root version 2: not signed by its own root keys");
  auto u = Update();
  ASSERT_TRUE(u.has_value()) << u.error().message();
  ExpectRefusal(u->refusal, "bad-root-signature", "not signed by its own root keys");
  EXPECT_EQ(u->root.root.version, 1u);
  EXPECT_TRUE(kept_.empty());
}

TEST_F(RootChainTest, RefusalMidChainKeepsTheStepsBeforeIt) {
  NextKeys();
  fetcher_.roots[2] = Step(RootV(2));
  const RootKeys& third = NextKeys();
  fetcher_.roots[3] = SignRoot(RootV(3), third.root);  // the new keys alone
  auto u = Update();
  ASSERT_TRUE(u.has_value()) << u.error().message();
  ExpectRefusal(u->refusal, "bad-root-signature", "root version 3");
  EXPECT_EQ(u->root.root.version, 2u);
  ASSERT_EQ(u->accepted.size(), 1u);
  EXPECT_EQ(kept_, std::vector<uint64_t>({2}));
  EXPECT_EQ(fetcher_.asked, std::vector<uint64_t>({2, 3}));
}

TEST_F(RootChainTest, SkippedVersionIsRefused) {
  NextKeys();
  NextKeys();
  // Version 3, validly signed by version 1's root keys and its own, served as roots/2.json.
  fetcher_.roots[2] = SignRoot(RootV(3), Concat(keys_[0].root, keys_[2].root));
  ExpectRefusal(Check(fetcher_.roots[2]), "root-version",
                "the document served as roots/2.json says version 3");
  auto u = Update();
  ASSERT_TRUE(u.has_value());
  ExpectRefusal(u->refusal, "root-version", "says version 3");
  EXPECT_EQ(u->root.root.version, 1u);
}

TEST_F(RootChainTest, ReplayedOlderRootIsRefused) {
  fetcher_.roots[2] = trusted_.envelope;  // version 1 again
  ExpectRefusal(Check(fetcher_.roots[2]), "root-version", "says version 1");
}

TEST_F(RootChainTest, RootOfAnotherRepositoryIsRefused) {
  NextKeys();
  Root other = RootV(2);
  other.repository = "staging.example";
  fetcher_.roots[2] = Step(other);
  ExpectRefusal(Check(fetcher_.roots[2]), "wrong-repository",
                "it is the root of repository \"staging.example\", this host follows "
                "\"os.example\"");
  auto u = Update();
  ASSERT_TRUE(u.has_value());
  ExpectRefusal(u->refusal, "wrong-repository", "staging.example");
}

TEST_F(RootChainTest, MalformedSignedRootIsBadRoot) {
  auto env = SignEnvelope(kRootPayloadType, "{\"repository\": \"os.example\"}", keys_[0].root);
  ASSERT_TRUE(env.has_value());
  auto r = Check(*env);
  ExpectRefusal(r, "bad-root", "root.version: required field is missing");
  EXPECT_EQ(r->kind, ErrorKind::kInvalidInput);
}

TEST_F(RootChainTest, ThresholdOfTwoOfThreeRootKeysNeedsTwoSignatures) {
  RootKeys k;
  k.root = NewKeys(3);
  k.root_threshold = 2;
  keys_ = {k};
  auto first = OpenTrustedRoot(SignRoot(MakeRoot(1, k), {k.root[0], k.root[1]}), "first");
  ASSERT_TRUE(first.has_value()) << first.error().message();
  trusted_ = *first;
  keys_.push_back(k);  // version 2 keeps the keys (an expiry bump)
  Root v2 = RootV(2);
  v2.expires += std::chrono::days(365);
  ExpectRefusal(Check(SignRoot(v2, {k.root[1]})), "bad-root-signature",
                "not signed by the root keys of version 1");
  fetcher_.roots[2] = SignRoot(v2, {k.root[1]});
  auto u = Update();
  ASSERT_TRUE(u.has_value());
  ExpectRefusal(u->refusal, "bad-root-signature", "root version 2");
  EXPECT_EQ(u->root.root.version, 1u);

  fetcher_.roots[2] = SignRoot(v2, {k.root[1], k.root[2]});
  EXPECT_FALSE(Check(fetcher_.roots[2]).has_value());
  u = Update();
  ASSERT_TRUE(u.has_value());
  EXPECT_FALSE(u->refusal.has_value()) << u->refusal->reason;
  EXPECT_EQ(u->root.root.version, 2u);
}

TEST_F(RootChainTest, NewRootsOwnThresholdMustBeMetToo) {
  RootKeys& next = NextKeys();
  next.root = NewKeys(2);
  next.root_threshold = 2;
  // The old key and one of the two new ones: the old root is satisfied, the new one is not.
  ExpectRefusal(Check(SignRoot(RootV(2), Concat(keys_[0].root, {next.root[0]}))),
                "bad-root-signature", "not signed by its own root keys");
  EXPECT_FALSE(Check(SignRoot(RootV(2), Concat(keys_[0].root, next.root))).has_value());
}

TEST_F(RootChainTest, ExpiredNewestRootIsRefused) {
  NextKeys();
  Root v2 = RootV(2);
  v2.expires = T0() - std::chrono::days(1);
  fetcher_.roots[2] = Step(v2);
  auto u = Update();
  ASSERT_TRUE(u.has_value()) << u.error().message();
  ExpectRefusal(u->refusal, "expired-root",
                "root version 2 of repository \"os.example\" expired at 2026-11-21T00:00:00Z");
  EXPECT_EQ(u->refusal->kind, ErrorKind::kPolicy);
  // The rotation itself was valid and is kept; the host just cannot use the repository.
  EXPECT_EQ(u->root.root.version, 2u);
  EXPECT_EQ(kept_, std::vector<uint64_t>({2}));
}

TEST_F(RootChainTest, ExpiredTrustedRootWithoutSuccessorIsRefused) {
  auto u = Update(trusted_.root.expires);  // expiry is exclusive: at `expires` it has expired
  ASSERT_TRUE(u.has_value());
  ExpectRefusal(u->refusal, "expired-root", "root version 1");
  u = Update(trusted_.root.expires - std::chrono::seconds(1));
  ASSERT_TRUE(u.has_value());
  EXPECT_FALSE(u->refusal.has_value());
}

TEST_F(RootChainTest, ExpiredIntermediateRootIsFine) {
  NextKeys();
  Root v2 = RootV(2);
  v2.expires = T0() - std::chrono::days(300);
  fetcher_.roots[2] = Step(v2);
  NextKeys();
  fetcher_.roots[3] = Step(RootV(3));
  EXPECT_FALSE(Check(fetcher_.roots[2]).has_value());
  auto u = Update();
  ASSERT_TRUE(u.has_value()) << u.error().message();
  EXPECT_FALSE(u->refusal.has_value()) << u->refusal->reason;
  EXPECT_EQ(u->root.root.version, 3u);
  EXPECT_EQ(kept_, std::vector<uint64_t>({2, 3}));
}

TEST_F(RootChainTest, NewerMajorFormatSignedByTheRootKeysIsUnsupported) {
  NextKeys();
  const std::string v2_type = "application/vnd.basalt.root.v2+json";
  fetcher_.roots[2] = SignRoot(RootV(2), Concat(keys_[0].root, keys_[1].root), v2_type);
  auto r = Check(fetcher_.roots[2]);
  ExpectRefusal(r, "unsupported-format", "document format version 2 is newer");
  EXPECT_EQ(r->kind, ErrorKind::kUnsupported);
  auto u = Update();
  ASSERT_TRUE(u.has_value());
  ExpectRefusal(u->refusal, "unsupported-format", "root version 2");
  EXPECT_EQ(u->refusal->kind, ErrorKind::kUnsupported);
  EXPECT_EQ(u->root.root.version, 1u);
  // Claiming a newer format does not help an unsigned document: it is a bad signature first.
  ExpectRefusal(Check(SignRoot(RootV(2), keys_[1].root, v2_type)), "bad-root-signature",
                "not signed by the root keys of version 1");
  // Nor does another document type signed by the root keys pass as a root.
  ExpectRefusal(Check(Sign(kChannelPayloadType, SerializeRoot(RootV(2)), keys_[0].root[0])),
                "bad-root-signature", "expected \"application/vnd.basalt.root+json\"");
}

TEST_F(RootChainTest, ChainOfExactlyTheLimitIsFollowed) {
  ServeChain(kMaxRootSteps + 1, /*fresh_keys=*/false);
  auto u = Update();
  ASSERT_TRUE(u.has_value()) << u.error().message();
  EXPECT_FALSE(u->refusal.has_value()) << u->refusal->reason;
  EXPECT_EQ(u->root.root.version, kMaxRootSteps + 1);
  EXPECT_EQ(u->accepted.size(), kMaxRootSteps);
}

TEST_F(RootChainTest, ChainLongerThanTheLimitIsRefused) {
  ServeChain(kMaxRootSteps + 2, /*fresh_keys=*/false);
  auto u = Update();
  ASSERT_TRUE(u.has_value()) << u.error().message();
  ExpectRefusal(u->refusal, "root-chain-too-long",
                fmt::format("more than {} root rotations at once", kMaxRootSteps));
  // Every step up to the limit was checked and kept; the one after it was not.
  EXPECT_EQ(u->root.root.version, kMaxRootSteps + 1);
  EXPECT_EQ(u->accepted.size(), kMaxRootSteps);
  EXPECT_EQ(kept_.size(), kMaxRootSteps);
}

TEST_F(RootChainTest, KeepFailingStopsTheWalk) {
  ServeChain(4);
  keep_fails_at_ = 3;
  auto u = Update();
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().kind(), ErrorKind::kIo);
  EXPECT_NE(u.error().message().find("disk full"), std::string::npos) << u.error().message();
  EXPECT_EQ(kept_, std::vector<uint64_t>({2, 3}));
  EXPECT_EQ(fetcher_.asked, std::vector<uint64_t>({2, 3}));  // version 4 was never fetched
}

TEST_F(RootChainTest, FetchErrorIsAnErrorNotARefusal) {
  NextKeys();
  fetcher_.roots[2] = Step(RootV(2));
  NextKeys();
  fetcher_.roots[3] = Step(RootV(3));
  fetcher_.fail_at = 3;
  auto u = Update();
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().kind(), ErrorKind::kIo);
  EXPECT_NE(u.error().message().find("roots/3.json: connection reset"), std::string::npos)
      << u.error().message();
  EXPECT_EQ(kept_, std::vector<uint64_t>({2}));  // the progress before it was persisted
}

// ---- Decide with Trust::FromRoot ----

class RootTrustDecisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_.release = NewKeys(2);
    keys_.channel = NewKeys(2);
    root_ = MakeRoot(1, keys_);
    channel_ = MakeChannel("2.0.0");
    channel_.repository = std::string(kRepository);
    release_ = MakeRelease("2.0.0", 'b');
    release_.repository = std::string(kRepository);
    PutChannel(channel_, {keys_.channel[0]});
    PutRelease(release_, {keys_.release[0]});
  }
  void PutChannel(const Channel& c, const Keys& signers) {
    source_.channels[c.name] = *SignEnvelope(kChannelPayloadType, SerializeChannel(c), signers);
  }
  void PutRelease(const Release& r, const Keys& signers) {
    source_.releases[r.version] = *SignEnvelope(kReleasePayloadType, SerializeRelease(r), signers);
  }
  HostState Host() {
    HostState h;
    h.current_version = "1.0.0";
    h.current_root_hash = Hex64('a');
    h.machine_id = "0123456789abcdef0123456789abcdef";
    h.now = T0();
    return h;
  }
  Decision Run(const HostState& h, size_t min_threshold = 1) {
    auto d = Decide(Trust::FromRoot(root_, min_threshold), "stable", source_, h);
    EXPECT_TRUE(d.has_value()) << d.error().message();
    return d.value_or(Decision{});
  }
  static void ExpectRefused(const Decision& d, std::string_view code, std::string_view fragment) {
    EXPECT_EQ(d.verdict, Verdict::kRefuse) << d.reason;
    EXPECT_EQ(d.code, code) << d.reason;
    EXPECT_NE(d.reason.find(fragment), std::string::npos) << d.reason;
  }

  RootKeys keys_;
  Root root_;
  Channel channel_;
  Release release_;
  MapSource source_;
};

TEST_F(RootTrustDecisionTest, TrustTakesEachRolesKeysAndTheRepository) {
  Trust t = Trust::FromRoot(root_, 1);
  EXPECT_EQ(t.channel_keys.size(), 2u);
  EXPECT_EQ(t.release_keys.size(), 2u);
  EXPECT_EQ(t.channel_threshold, 1u);
  EXPECT_EQ(t.release_threshold, 1u);
  EXPECT_EQ(t.repository, kRepository);
  // The root keys sign roots only.
  EXPECT_FALSE(t.channel_keys.Find(keys_.root[0].id()));
  EXPECT_FALSE(t.release_keys.Find(keys_.root[0].id()));
}

TEST_F(RootTrustDecisionTest, DocumentsSignedByTheirRolesUpdate) {
  Decision d = Run(Host());
  EXPECT_EQ(d.verdict, Verdict::kUpdate) << d.reason;
  EXPECT_EQ(d.code, "newer");
  EXPECT_EQ(d.version, "2.0.0");
  EXPECT_EQ(d.channel_keys, keys_.channel[0].id());  // who signed what the host records
}

TEST_F(RootTrustDecisionTest, ChannelSignedByAReleaseKeyIsRefused) {
  PutChannel(channel_, keys_.release);
  Decision d = Run(Host());
  ExpectRefused(d, "bad-channel-signature", "channel stable");
  EXPECT_EQ(d.refusal_kind, ErrorKind::kIntegrity);
  EXPECT_FALSE(d.channel.has_value());
}

TEST_F(RootTrustDecisionTest, ChannelSignedByARootKeyIsRefused) {
  PutChannel(channel_, keys_.root);
  ExpectRefused(Run(Host()), "bad-channel-signature", "channel stable");
}

TEST_F(RootTrustDecisionTest, ReleaseSignedByAChannelKeyIsRefused) {
  PutRelease(release_, keys_.channel);
  Decision d = Run(Host());
  ExpectRefused(d, "bad-release-signature", "release 2.0.0");
  EXPECT_EQ(d.refusal_kind, ErrorKind::kIntegrity);
  EXPECT_TRUE(d.channel.has_value());  // the channel itself verified
}

TEST_F(RootTrustDecisionTest, ChannelOfAnotherRepositoryIsRefused) {
  channel_.repository = "staging.example";
  PutChannel(channel_, {keys_.channel[0]});
  Decision d = Run(Host());
  ExpectRefused(d, "wrong-repository",
                "channel stable belongs to repository \"staging.example\"; this host follows "
                "repository \"os.example\"");
  EXPECT_EQ(d.refusal_kind, ErrorKind::kIntegrity);
}

TEST_F(RootTrustDecisionTest, ChannelNamingNoRepositoryIsRefused) {
  channel_.repository.reset();
  PutChannel(channel_, {keys_.channel[0]});
  ExpectRefused(Run(Host()), "wrong-repository",
                "channel stable names no repository; this host's root requires repository "
                "\"os.example\"");
}

TEST_F(RootTrustDecisionTest, ReleaseOfAnotherRepositoryIsRefused) {
  release_.repository = "staging.example";
  PutRelease(release_, {keys_.release[0]});
  Decision d = Run(Host());
  ExpectRefused(d, "wrong-repository", "release 2.0.0 belongs to repository \"staging.example\"");
  EXPECT_TRUE(d.channel.has_value());
  release_.repository.reset();
  PutRelease(release_, {keys_.release[0]});
  ExpectRefused(Run(Host()), "wrong-repository", "release 2.0.0 names no repository");
}

TEST_F(RootTrustDecisionTest, WithoutARootDocumentsNeedNoRepository) {
  channel_.repository.reset();
  release_.repository = "anything.example";
  const Keys both = {keys_.channel[0]};
  PutChannel(channel_, both);
  PutRelease(release_, both);
  Keyring ring;
  ring.Add(keys_.channel[0].public_key());
  auto d = Decide(ring, 1, "stable", source_, Host());
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->verdict, Verdict::kUpdate) << d->reason;
  EXPECT_EQ(d->channel_keys, keys_.channel[0].id());  // signers are recorded without a root too
}

TEST_F(RootTrustDecisionTest, ThresholdFloorRaisesARolesThreshold) {
  Trust t = Trust::FromRoot(root_, 2);
  EXPECT_EQ(t.channel_threshold, 2u);
  EXPECT_EQ(t.release_threshold, 2u);
  // One channel signature met the root's threshold of 1, not the host's floor of 2.
  ExpectRefused(Run(Host(), 2), "bad-channel-signature", "channel stable");
  PutChannel(channel_, keys_.channel);
  ExpectRefused(Run(Host(), 2), "bad-release-signature", "release 2.0.0");
  PutRelease(release_, keys_.release);
  EXPECT_EQ(Run(Host(), 2).verdict, Verdict::kUpdate);
  // A channel key and a release key are not two channel signers.
  PutChannel(channel_, {keys_.channel[0], keys_.release[0]});
  ExpectRefused(Run(Host(), 2), "bad-channel-signature", "channel stable");
}

TEST_F(RootTrustDecisionTest, ThresholdFloorNeverLowersARolesThreshold) {
  keys_.channel_threshold = 2;
  root_ = MakeRoot(1, keys_);
  Trust t = Trust::FromRoot(root_, 1);
  EXPECT_EQ(t.channel_threshold, 2u);
  EXPECT_EQ(t.release_threshold, 1u);
  ExpectRefused(Run(Host(), 1), "bad-channel-signature", "channel stable");
  PutChannel(channel_, keys_.channel);
  EXPECT_EQ(Run(Host(), 0).verdict, Verdict::kUpdate);
}

TEST_F(RootTrustDecisionTest, ReplayRecordUnderOtherChannelKeysDoesNotBind) {
  HostState h = Host();
  h.last_metadata_version = 9;  // the channel is at 5
  h.last_metadata_sha256 = Hex64('e');
  h.last_metadata_keys = Hex64('f');  // signed by a key since revoked
  Decision d = Run(h);
  EXPECT_EQ(d.verdict, Verdict::kUpdate) << d.reason;
  ASSERT_TRUE(d.channel.has_value());
  EXPECT_EQ(d.channel->metadata_version, 5u);
  EXPECT_EQ(d.channel_keys, keys_.channel[0].id());
  // Nor does a record of the same version with other content.
  h.last_metadata_version = 5;
  EXPECT_EQ(Run(h).verdict, Verdict::kUpdate);
}

TEST_F(RootTrustDecisionTest, ReplayRecordUnderTheseChannelKeysBinds) {
  HostState h = Host();
  h.last_metadata_version = 9;
  h.last_metadata_keys = keys_.channel[0].id() + "," + keys_.channel[1].id();
  ExpectRefused(Run(h), "replay", "channel stable metadata version 5 is older than version 9");
  h.last_metadata_version = 5;
  h.last_metadata_sha256 = Hex64('e');
  ExpectRefused(Run(h), "conflicting-metadata", "metadata version 5 differs");
}

TEST_F(RootTrustDecisionTest, ReplayRecordWithoutFingerprintBinds) {
  HostState h = Host();
  h.last_metadata_version = 9;
  h.last_metadata_keys.clear();  // made before the host followed a root
  ExpectRefused(Run(h), "replay", "older than version 9");
}

TEST_F(RootTrustDecisionTest, RotatedChannelKeysRecoverFromAFastForward) {
  // A leaked channel key signed metadata version 1000000; hosts recorded it.
  HostState h = Host();
  h.last_metadata_version = 1000000;
  h.last_metadata_keys = keys_.channel[0].id();
  ExpectRefused(Run(h), "replay", "older than version 1000000");
  // The operators publish a root with new channel keys and re-sign the channel with them.
  RootKeys next = keys_;
  next.channel = NewKeys(1);
  root_ = MakeRoot(2, next);
  PutChannel(channel_, next.channel);
  Decision d = Run(h);
  EXPECT_EQ(d.verdict, Verdict::kUpdate) << d.reason;
  EXPECT_NE(d.channel_keys, h.last_metadata_keys);
  // The leaked key no longer signs channels.
  PutChannel(channel_, {keys_.channel[0]});
  ExpectRefused(Run(h), "bad-channel-signature", "channel stable");
}

// Adding a channel key (or changing the threshold) is not a revocation: a record signed by a key
// that is still a channel key keeps binding, so an older document stays a replay.
TEST_F(RootTrustDecisionTest, AnAddOnlyRotationKeepsReplayProtection) {
  HostState h = Host();
  h.last_metadata_version = 9;
  h.last_metadata_keys = keys_.channel[0].id();
  RootKeys next = keys_;
  Keys extra = NewKeys(1);
  next.channel.push_back(extra[0]);
  root_ = MakeRoot(2, next);
  ExpectRefused(Run(h), "replay", "older than version 9");
  // Once that signer is revoked, the record stops binding.
  next.channel = {keys_.channel[1], extra[0]};
  root_ = MakeRoot(3, next);
  PutChannel(channel_, {extra[0]});
  EXPECT_EQ(Run(h).verdict, Verdict::kUpdate);
}

}  // namespace
}  // namespace basalt::repo
