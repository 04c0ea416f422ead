// The Omaha transport against a fixture server on 127.0.0.1 that replays Nebraska/Flatcar
// response shapes (tests/fixtures/omaha) and records every request body, which the tests
// check field by field. Then the trust rule end to end: an Omaha offer of a payload signed by a
// trusted key applies; unsigned or wrongly-signed ones are refused before any write, even
// though the server vouched for their size and SHA-256.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <pugixml.hpp>

#include "common/base64.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/keyring.h"
#include "common/log.h"
#include "fleet/omaha_source.h"
#include "integration/fleet_http_server.h"
#include "integration/payload_fixture.h"
#include "payload/applier.h"
#include "payload/format.h"

namespace basalt::fleet {
namespace {

namespace fs = std::filesystem;
using payload::testing::ReadFile;
using payload::testing::TempDir;
using payload::testing::WriteFile;
using testing::RecordingHttpServer;

constexpr char kAppId[] = "{b2a1c0de-5a17-4b5a-8a5e-0123456789ab}";

class NullLogger : public Logger {
 public:
  void Log(LogLevel, std::string_view, const std::vector<LogField>&) override {}
};

std::string SourceDir() {
  const char* d = getenv("BASALT_SOURCE_DIR");
  return d ? d : ".";
}

std::string BinDir() {
  const char* d = getenv("BASALT_BIN_DIR");
  return d ? d : "out/default/bin";
}

void ReplaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
    s.replace(p, from.size(), to);
}

struct Package {
  std::string name;
  std::string data;
};

// A recorded response shape with the placeholders filled in for pkg.
std::string Fixture(const std::string& name, const std::string& base, const Package& pkg,
                    const std::string& version = "2.0.0") {
  std::string xml = ReadFile(SourceDir() + "/tests/fixtures/omaha/" + name);
  auto digest = Sha256(std::string_view(pkg.data));
  Hasher sha1(HashAlgorithm::kSha1);
  sha1.Update(std::string_view(pkg.data));
  auto sha1_digest = sha1.Final();
  ReplaceAll(xml, "@APPID@", kAppId);
  ReplaceAll(xml, "@VERSION@", version);
  ReplaceAll(xml, "@BASE@", base);
  ReplaceAll(xml, "@NAME@", pkg.name);
  ReplaceAll(xml, "@SIZE@", std::to_string(pkg.data.size()));
  ReplaceAll(xml, "@SHA256_HEX@", ToHex(digest));
  ReplaceAll(xml, "@SHA256_B64@", Base64Encode(digest));
  ReplaceAll(xml, "@SHA1_B64@", Base64Encode(sha1_digest));
  return xml;
}

update::HostFacts Host() {
  update::HostFacts h;
  h.app_id = kAppId;
  h.current_version = "1.0.0";
  h.channel = "beta";
  h.machine_id = "0123456789abcdef0123456789abcdef";
  h.boot_id = "{8b3c4a8e-2a5f-4f00-9a53-1c0ffee00001}";
  h.oem = "qemu";
  return h;
}

// The recorded request's <app> element, checked to be a well-formed Omaha 3.0 request first.
pugi::xml_node RequestApp(pugi::xml_document& doc, const testing::RecordedRequest& r) {
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/v1/update/");
  EXPECT_EQ(r.content_type, "text/xml");
  auto parsed = doc.load_string(r.body.c_str());
  EXPECT_TRUE(parsed) << parsed.description() << "\n" << r.body;
  auto req = doc.child("request");
  EXPECT_STREQ(req.attribute("protocol").value(), "3.0");
  EXPECT_STREQ(req.attribute("ismachine").value(), "1");
  EXPECT_STREQ(req.child("os").attribute("platform").value(), "Basalt");
  EXPECT_STREQ(req.child("os").attribute("version").value(), "1.0.0");
  auto app = req.child("app");
  EXPECT_STREQ(app.attribute("appid").value(), kAppId);
  EXPECT_STREQ(app.attribute("version").value(), "1.0.0");
  EXPECT_STREQ(app.attribute("track").value(), "beta");
  EXPECT_STREQ(app.attribute("machineid").value(), "0123456789abcdef0123456789abcdef");
  EXPECT_STREQ(app.attribute("bootid").value(), "{8b3c4a8e-2a5f-4f00-9a53-1c0ffee00001}");
  EXPECT_STREQ(app.attribute("oem").value(), "qemu");
  EXPECT_STREQ(app.attribute("board").value(), "amd64-usr");
  return app;
}

class OmahaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    www_ = tmp_ / "www";
    fs::create_directories(www_);
    server_ = std::make_unique<RecordingHttpServer>(www_);
    OmahaConfig cfg;
    cfg.server = server_->Url("/v1/update/");
    source_ = std::make_unique<OmahaUpdateSource>(cfg);
  }

  TempDir tmp_;
  std::string www_;
  std::unique_ptr<RecordingHttpServer> server_;
  std::unique_ptr<OmahaUpdateSource> source_;
  Package pkg_{"basalt_2.0.0_full.payload", std::string(12345, 'x')};
};

TEST_F(OmahaTest, NoUpdateSendsAnUpdateCheckWithTheHostsIdentity) {
  server_->QueuePostResponse(Fixture("noupdate.xml", server_->Url("/"), pkg_));
  auto offer = source_->Check(Host());
  ASSERT_TRUE(offer.has_value()) << offer.error().message();
  EXPECT_FALSE(offer->update);
  EXPECT_EQ(offer->code, "up-to-date");

  auto reqs = server_->Requests();
  ASSERT_EQ(reqs.size(), 1u);
  pugi::xml_document doc;
  auto app = RequestApp(doc, reqs[0]);
  EXPECT_TRUE(app.child("updatecheck")) << reqs[0].body;
  EXPECT_STREQ(app.child("ping").attribute("active").value(), "1");
  EXPECT_FALSE(app.child("event"));
}

TEST_F(OmahaTest, UpdateWithSeveralUrlsBecomesAnOfferInTheServersOrder) {
  std::string base = server_->Url("/");
  server_->QueuePostResponse(Fixture("update-multi-url.xml", base, pkg_));
  auto offer = source_->Check(Host());
  ASSERT_TRUE(offer.has_value()) << offer.error().message();
  ASSERT_TRUE(offer->update);
  EXPECT_EQ(offer->version, "2.0.0");
  EXPECT_EQ(offer->usr_root_hash, "") << "Omaha does not say; the signed payload does";
  ASSERT_EQ(offer->payloads.size(), 1u);
  const auto& p = offer->payloads[0];
  EXPECT_FALSE(p.delta);
  EXPECT_EQ(p.size, 12345u);
  EXPECT_EQ(p.sha256, ToHex(Sha256(std::string_view(pkg_.data))));
  EXPECT_EQ(p.urls, (std::vector<std::string>{base + "mirror-1/" + pkg_.name,
                                              base + "mirror-2/" + pkg_.name, base + pkg_.name}));
}

TEST_F(OmahaTest, FlatcarLegacyShapeTakesTheSha256FromThePostinstallAction) {
  server_->QueuePostResponse(Fixture("update-flatcar-legacy.xml", server_->Url("/"), pkg_));
  auto offer = source_->Check(Host());
  ASSERT_TRUE(offer.has_value()) << offer.error().message();
  ASSERT_TRUE(offer->update);
  EXPECT_EQ(offer->payloads[0].sha256, ToHex(Sha256(std::string_view(pkg_.data))));
}

TEST_F(OmahaTest, MalformedAndRefusingResponsesAreClearErrors) {
  struct Case {
    const char* fixture;
    ErrorKind kind;
    const char* says;
  } cases[] = {
      {"malformed-truncated.xml", ErrorKind::kInvalidInput, "not well-formed XML"},
      {"malformed-no-manifest.xml", ErrorKind::kInvalidInput, "has no <manifest>"},
      {"malformed-bad-size.xml", ErrorKind::kInvalidInput, "<package size=\"-12\">"},
      {"update-sha1-only.xml", ErrorKind::kUnsupported, "only a SHA-1 'hash'"},
      {"unknown-app.xml", ErrorKind::kNotFound, "error-unknownApplication"},
  };
  for (const auto& c : cases) {
    server_->QueuePostResponse(Fixture(c.fixture, server_->Url("/"), pkg_));
    auto offer = source_->Check(Host());
    ASSERT_FALSE(offer.has_value()) << c.fixture;
    EXPECT_EQ(offer.error().kind(), c.kind) << c.fixture << ": " << offer.error().message();
    EXPECT_NE(offer.error().message().find(c.says), std::string::npos)
        << c.fixture << ": " << offer.error().message();
  }
  // A server that answers 500: a retryable I/O error, not an offer.
  auto offer = source_->Check(Host());
  ASSERT_FALSE(offer.has_value());
  EXPECT_EQ(offer.error().kind(), ErrorKind::kIo) << offer.error().message();
}

TEST_F(OmahaTest, PinAndSameVersionAreNotOffers) {
  server_->QueuePostResponse(Fixture("update-multi-url.xml", server_->Url("/"), pkg_));
  auto h = Host();
  h.pin = "1.5.0";
  auto offer = source_->Check(h);
  ASSERT_TRUE(offer.has_value());
  EXPECT_FALSE(offer->update);
  EXPECT_EQ(offer->code, "pinned");
  server_->QueuePostResponse(Fixture("update-multi-url.xml", server_->Url("/"), pkg_, "1.0.0"));
  offer = source_->Check(Host());
  ASSERT_TRUE(offer.has_value());
  EXPECT_FALSE(offer->update);
}

TEST_F(OmahaTest, EventsCarryFlatcarsTypesResultsAndErrorCodes) {
  struct Case {
    update::UpdateEvent event;
    int code;
    const char* type;
    const char* result;
    const char* errorcode;  // nullptr: attribute absent
  } cases[] = {
      {update::UpdateEvent::kDownloadStarted, 0, "13", "1", nullptr},
      {update::UpdateEvent::kDownloadFinished, 0, "14", "1", nullptr},
      {update::UpdateEvent::kUpdatedAndRebooted, 0, "3", "2", nullptr},
      {update::UpdateEvent::kFailed, 9, "3", "0", "9"},
      {update::UpdateEvent::kFailed, 0, "3", "0", "1"},
      {update::UpdateEvent::kRolledBack, 0, "3", "0", "2000"},
  };
  for (const auto& c : cases) {
    server_->QueuePostResponse(Fixture("event-ack.xml", server_->Url("/"), pkg_));
    auto s = source_->Report(Host(), c.event, c.code);
    ASSERT_TRUE(s.has_value()) << s.error().message();
  }
  auto reqs = server_->Requests();
  ASSERT_EQ(reqs.size(), std::size(cases));
  for (size_t i = 0; i < reqs.size(); ++i) {
    pugi::xml_document doc;
    auto app = RequestApp(doc, reqs[i]);
    EXPECT_FALSE(app.child("updatecheck"));
    auto ev = app.child("event");
    ASSERT_TRUE(ev) << reqs[i].body;
    EXPECT_STREQ(ev.attribute("eventtype").value(), cases[i].type) << i;
    EXPECT_STREQ(ev.attribute("eventresult").value(), cases[i].result) << i;
    if (cases[i].errorcode) {
      EXPECT_STREQ(ev.attribute("errorcode").value(), cases[i].errorcode) << i;
    } else {
      EXPECT_FALSE(ev.attribute("errorcode")) << i;
    }
  }
  // An event the server does not acknowledge for our app is an error.
  server_->QueuePostResponse(Fixture("unknown-app.xml", server_->Url("/"), pkg_));
  EXPECT_FALSE(source_->Report(Host(), update::UpdateEvent::kDownloadStarted, 0).has_value());
}

// --- Omaha chooses what, never whether to trust ---------------------------------------------

struct Payloads {
  TempDir dir;
  std::string trust;
  std::string signed_path, rogue_path, unsigned_path;
  std::string root_hash;  // of the new image
  std::string skip;       // why the fixture could not be built
};
Payloads* g_payloads = nullptr;

// Copies a signed payload with its signature block replaced by an empty one.
std::string StripSignatures(const std::string& data) {
  auto bytes = std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  auto h = payload::DecodeHeader(bytes.first(payload::kHeaderSize));
  EXPECT_TRUE(h.has_value());
  payload::Header nh = *h;
  auto empty = payload::EncodeSignatures({});
  nh.signatures_size = static_cast<uint32_t>(empty.size());
  auto head = payload::EncodeHeader(nh);
  std::string out(reinterpret_cast<const char*>(head.data()), head.size());
  out += data.substr(payload::kHeaderSize, h->manifest_size);
  out.append(reinterpret_cast<const char*>(empty.data()), empty.size());
  out += data.substr(h->blobs_offset());
  return out;
}

class OmahaTrustTest : public OmahaTest {
 protected:
  static void SetUpTestSuite() {
    g_payloads = new Payloads;
    Payloads& p = *g_payloads;
    std::string missing = payload::testing::MissingTool({"mkfs.erofs", "veritysetup"});
    if (!missing.empty()) {
      p.skip = missing + " is not installed";
      return;
    }
    std::string tree = p.dir / "tree";
    WriteFile(tree + "/bin/tool", payload::testing::RandomBytes(200000, 1));
    WriteFile(tree + "/share/doc", payload::testing::RandomBytes(100000, 2, true));
    payload::testing::BuildImage(tree, p.dir / "new", "2.0.0");
    p.root_hash = nlohmann_root_hash(p.dir / "new/image.json");
    std::string keys = p.dir / "keys";
    p.trust = p.dir / "trust";
    payload::testing::MakeKey("release", keys, p.trust);
    payload::testing::MakeKey("rogue", keys, "");
    p.signed_path = p.dir / "signed.payload";
    p.rogue_path = p.dir / "rogue.payload";
    p.unsigned_path = p.dir / "unsigned.payload";
    for (auto [key, out] : {std::pair{keys + "/release.pem", p.signed_path},
                            std::pair{keys + "/rogue.pem", p.rogue_path}}) {
      std::string cmd = BinDir() + "/basalt payload generate --new " + (p.dir / "new") +
                        " --output " + out + " --key " + key + " --zstd-level 3 --no-xz >/dev/null";
      ASSERT_EQ(payload::testing::Run(cmd), 0) << cmd;
    }
    WriteFile(p.unsigned_path, StripSignatures(ReadFile(p.signed_path)));
  }
  static void TearDownTestSuite() {
    delete g_payloads;
    g_payloads = nullptr;
  }

  static std::string nlohmann_root_hash(const std::string& image_json) {
    std::string text = ReadFile(image_json);
    auto p = text.find("\"root_hash\":\"");
    return p == std::string::npos ? "" : text.substr(p + 13, 64);
  }

  void SetUp() override {
    ASSERT_NE(g_payloads, nullptr);
    if (!g_payloads->skip.empty()) GTEST_SKIP() << g_payloads->skip;
    OmahaTest::SetUp();
  }

  // The daemon's steps after an Omaha check, in miniature: download from the offered URLs,
  // check the size and SHA-256 the server named, then apply with the host's keyring.
  Result<payload::ApplyResult> CheckDownloadApply(const std::string& payload_file,
                                                  const std::string& target) {
    Package pkg{"basalt_2.0.0_full.payload", ReadFile(payload_file)};
    WriteFile(www_ + "/" + pkg.name, pkg.data);
    server_->QueuePostResponse(Fixture("update-multi-url.xml", server_->Url("/"), pkg));
    BASALT_ASSIGN_OR_RETURN(update::UpdateOffer offer, source_->Check(Host()));
    if (!offer.update) return Fail(ErrorKind::kInternal, "no offer");
    const update::OfferedPayload& p = offer.payloads.at(0);
    auto fetcher = http::MakeCurlFetcher();
    std::string body;
    for (const auto& url : p.urls) {  // mirror-1 and mirror-2 do not exist: 404, next
      auto got = fetcher->Get(url, p.size);
      if (got) {
        body = std::move(*got);
        break;
      }
    }
    if (body.size() != p.size) return Fail(ErrorKind::kIo, "download failed");
    auto bytes = std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size());
    if (ToHex(Sha256(bytes)) != p.sha256) return Fail(ErrorKind::kIntegrity, "sha256 mismatch");
    BASALT_ASSIGN_OR_RETURN(Keyring ring, Keyring::LoadDirectory(g_payloads->trust));
    payload::MemoryPayloadSource src(bytes);
    payload::ApplyOptions o;
    o.target_path = target;
    o.keyring = &ring;
    NullLogger log;
    return payload::ApplyPayload(src, o, log);
  }
};

TEST_F(OmahaTrustTest, SignedPayloadOfferedByOmahaApplies) {
  std::string target = tmp_ / "slot-b.img";
  auto r = CheckDownloadApply(g_payloads->signed_path, target);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->version, "2.0.0");
  EXPECT_EQ(ToHex(r->root_hash), g_payloads->root_hash);
  auto reqs = server_->Requests();
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method, "GET");
  EXPECT_EQ(reqs[1].path, "/mirror-1/basalt_2.0.0_full.payload");
  EXPECT_EQ(reqs.back().path, "/basalt_2.0.0_full.payload");
}

TEST_F(OmahaTrustTest, UnsignedPayloadOfferedByOmahaIsRefusedBeforeAnyWrite) {
  std::string target = tmp_ / "slot-b.img";
  auto r = CheckDownloadApply(g_payloads->unsigned_path, target);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind(), ErrorKind::kIntegrity) << r.error().message();
  EXPECT_FALSE(fs::exists(target)) << "nothing may be written";
  // The refusal is the payload verifier's, not the download's: the SHA-256 matched.
  auto ring = Keyring::LoadDirectory(g_payloads->trust);
  ASSERT_TRUE(ring.has_value());
  std::string data = ReadFile(g_payloads->unsigned_path);
  payload::MemoryPayloadSource src(
      std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  auto v = payload::VerifyPayload(src, *ring, 1);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().kind(), ErrorKind::kIntegrity);
}

TEST_F(OmahaTrustTest, PayloadSignedByAnUntrustedKeyIsRefusedBeforeAnyWrite) {
  std::string target = tmp_ / "slot-b.img";
  auto r = CheckDownloadApply(g_payloads->rogue_path, target);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind(), ErrorKind::kIntegrity) << r.error().message();
  EXPECT_FALSE(fs::exists(target)) << "nothing may be written";
}

}  // namespace
}  // namespace basalt::fleet
