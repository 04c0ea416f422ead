// The Omaha transport against a fixture server on 127.0.0.1 that replays Nebraska/Flatcar
// response shapes (tests/fixtures/omaha) and records every request body, which the tests
// check field by field. Then the trust rule through the daemon's own flow (UpdateManager with
// the Omaha source, payloads from nginx, a fake disk): an Omaha offer of a payload signed by a
// trusted key is installed and its boot reported; unsigned or wrongly-signed ones are refused
// before any write, even though the server vouched for their size and SHA-256.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <pugixml.hpp>
#include <sstream>
#include <thread>

#include "common/base64.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/keyring.h"
#include "common/log.h"
#include "daemon/fleet_wiring.h"
#include "daemon/reboot_strategies.h"
#include "daemon/update_manager.h"
#include "fakes/fake_logger.h"
#include "fakes/fake_update_target.h"
#include "fleet/omaha_source.h"
#include "integration/fleet_http_server.h"
#include "integration/nginx_server.h"
#include "integration/payload_fixture.h"
#include "payload/format.h"

namespace basalt::fleet {
namespace {

namespace fs = std::filesystem;
using basalt::testing::NginxServer;
using payload::testing::ReadFile;
using payload::testing::TempDir;
using payload::testing::WriteFile;
using testing::RecordingHttpServer;

constexpr char kAppId[] = "{b2a1c0de-5a17-4b5a-8a5e-0123456789ab}";

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
    // The rig's servers listen on 127.0.0.1 without TLS.
    cfg.allow_insecure_http = true;
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

// --- Omaha chooses what, never whether to trust: the daemon's own flow -----------------------
//
// The real UpdateManager, with the Omaha source wired as PROTOCOL=omaha wires it, against the
// fixture server, the payloads served by nginx, and the host's keyring. Only the disk is a fake
// (tests/fakes: the USR slots are files, the boot control keeps its table in memory), so the
// whole host flow runs without root: check, download past two 404 mirrors with the server's
// size and SHA-256, verify-before-write apply, finalize, and the events the server hears.

constexpr char kMachine[] = "0123456789abcdef0123456789abcdef";
constexpr char kKernelVersion[] = "6.1.0-omaha";

struct Payloads {
  TempDir dir;
  std::string trust;
  std::string signed_path, rogue_path, unsigned_path;
  std::string usr_img;    // the new /usr as built (erofs and its verity tree)
  std::string root_hash;  // of the new image
  std::string kernel, initrd;
  std::string skip;  // why the fixture could not be built
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

// The manager owns its target; a manager restarted in the next boot must find the same disk.
class TargetView : public update::UpdateTarget {
 public:
  explicit TargetView(update::UpdateTarget& t) : t_(t) {}
  std::string Describe() const override { return t_.Describe(); }
  boot::BootControl& boot() override { return t_.boot(); }
  Result<boot::Slot> ActiveSlot() override { return t_.ActiveSlot(); }
  Result<update::SlotPartition> Partition(boot::Slot s) override { return t_.Partition(s); }
  Result<update::SlotDevice> OpenSlot(boot::Slot s, bool w) override { return t_.OpenSlot(s, w); }
  Result<uint64_t> EspFreeBytes() override { return t_.EspFreeBytes(); }

 private:
  update::UpdateTarget& t_;
};

class OmahaFlowTest : public OmahaTest {
 protected:
  static void SetUpTestSuite() {
    g_payloads = new Payloads;
    Payloads& p = *g_payloads;
    std::string missing = payload::testing::MissingTool({"mkfs.erofs", "veritysetup"});
    if (!missing.empty()) {
      p.skip = missing + " is not installed";
      return;
    }
    if (NginxServer::Binary().empty()) {
      p.skip = "nginx is not installed";
      return;
    }
    std::string tree = p.dir / "tree";
    p.kernel = payload::testing::RandomBytes(70000, 3);
    p.initrd = payload::testing::RandomBytes(50000, 4, true);
    WriteFile(tree + "/bin/tool", payload::testing::RandomBytes(200000, 1));
    WriteFile(tree + "/share/doc", payload::testing::RandomBytes(100000, 2, true));
    WriteFile(tree + "/lib/modules/" + kKernelVersion + "/vmlinuz", p.kernel);
    WriteFile(tree + "/lib/modules/" + kKernelVersion + "/initrd.img", p.initrd);
    payload::testing::BuildImage(tree, p.dir / "new", "2.0.0");
    p.usr_img = ReadFile(p.dir / "new/usr.img");
    p.root_hash = RootHashOf(p.dir / "new/image.json");
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

  static std::string RootHashOf(const std::string& image_json) {
    std::string text = ReadFile(image_json);
    auto p = text.find("\"root_hash\":\"");
    return p == std::string::npos ? "" : text.substr(p + 13, 64);
  }

  void SetUp() override {
    ASSERT_NE(g_payloads, nullptr);
    if (!g_payloads->skip.empty()) GTEST_SKIP() << g_payloads->skip;
    OmahaTest::SetUp();
    nginx_ = NginxServer::Start(www_, tmp_ / "nginx");
    ASSERT_NE(nginx_, nullptr) << ReadFile(tmp_ / "nginx/error.log");
    target_ = std::make_unique<fakes::FakeUpdateTarget>(tmp_ / "disk", 16 << 20);
  }

  // The server offers 2.0.0 as `payload_file`, behind two mirrors that do not have it, and
  // acknowledges the events that follow.
  void Offer(const std::string& payload_file, const std::string& version = "2.0.0") {
    Package pkg{"basalt_2.0.0_full.payload", ReadFile(payload_file)};
    WriteFile(www_ + "/" + pkg.name, pkg.data);
    server_->QueuePostResponse(Fixture("update-multi-url.xml", nginx_->url() + "/", pkg, version));
    for (int i = 0; i < 4; ++i)
      server_->QueuePostResponse(Fixture("event-ack.xml", nginx_->url() + "/", pkg));
  }

  // basalt-updated as it starts in `boot_id`, over the test's disk.
  std::unique_ptr<update::UpdateManager> StartDaemon(const std::string& boot_id) {
    update::ManagerOptions o;
    o.config.protocol = daemon::UpdateProtocol::kOmaha;
    o.config.server = server_->Url("/v1/update/");
    o.config.omaha_app_id = kAppId;
    o.config.omaha_insecure_http = true;  // the rig has no TLS
    o.config.channel = "beta";
    o.config.reboot_strategy = daemon::RebootStrategy::kOff;
    o.config.metrics_path = "";
    o.state_dir = tmp_ / "state";
    o.machine_id = kMachine;
    o.boot_id = boot_id;
    o.periodic_checks = false;
    update::ManagerParts parts;
    auto keys = Keyring::LoadDirectory(g_payloads->trust);
    EXPECT_TRUE(keys.has_value());
    if (!keys) return nullptr;
    parts.trust = std::make_unique<update::HostTrust>(update::HostTrust::FromKeyring(*keys, 1));
    parts.fetcher = http::MakeCurlFetcher();
    auto source = update::MakeUpdateSource(o.config, *parts.fetcher, *parts.trust);
    EXPECT_TRUE(source.has_value()) << source.error().message();
    if (!source) return nullptr;
    parts.source = std::move(*source);
    parts.target = std::make_unique<TargetView>(*target_);
    parts.coordinator = update::NewOffCoordinator();
    auto m = update::UpdateManager::Create(o, std::move(parts), log_);
    EXPECT_TRUE(m.has_value()) << m.error().message();
    if (!m) return nullptr;
    EXPECT_TRUE((*m)->AfterBoot().has_value());
    return std::move(*m);
  }

  // Apply, as `basalt update apply` asks the daemon, and wait for the run to end.
  static update::UpdateState Apply(update::UpdateManager& m) {
    EXPECT_TRUE(m.StartApply(std::nullopt).has_value());
    for (int i = 0; i < 6000 && m.Get().busy; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(m.Get().busy) << "the update did not finish in a minute";
    return m.Get().state;
  }

  // What the server heard from request `from` on, each checked to be an Omaha 3.0 request from
  // this host running `version`: "updatecheck" or "event TYPE/RESULT[ code N]".
  std::vector<std::string> Heard(size_t from, const std::string& version,
                                 const std::string& boot_id) {
    std::vector<std::string> out;
    auto reqs = server_->Requests();
    for (size_t i = from; i < reqs.size(); ++i) {
      const auto& r = reqs[i];
      if (r.method != "POST") continue;
      pugi::xml_document doc;
      EXPECT_TRUE(doc.load_string(r.body.c_str())) << r.body;
      auto req = doc.child("request");
      EXPECT_STREQ(req.attribute("protocol").value(), "3.0");
      EXPECT_EQ(req.child("os").attribute("version").value(), version);
      auto app = req.child("app");
      EXPECT_STREQ(app.attribute("appid").value(), kAppId);
      EXPECT_EQ(app.attribute("version").value(), version) << r.body;
      EXPECT_STREQ(app.attribute("track").value(), "beta");
      EXPECT_STREQ(app.attribute("machineid").value(), kMachine);
      EXPECT_EQ(app.attribute("bootid").value(), boot_id);
      if (app.child("updatecheck")) {
        out.push_back("updatecheck");
      } else if (auto ev = app.child("event")) {
        std::string code = ev.attribute("errorcode").value();
        out.push_back(fmt::format("event {}/{}{}", ev.attribute("eventtype").value(),
                                  ev.attribute("eventresult").value(),
                                  code.empty() ? "" : " code " + code));
      } else {
        out.push_back("? " + r.body);
      }
    }
    return out;
  }

  // The payload requests nginx answered: "STATUS /path".
  std::vector<std::string> PayloadRequests() {
    std::vector<std::string> out;
    std::istringstream log(ReadFile(nginx_->access_log()));
    for (std::string line; std::getline(log, line);) {
      auto q = line.find("\"GET ");
      if (q == std::string::npos) continue;
      auto path_end = line.find(' ', q + 5);
      auto status_at = line.find("\" ", path_end);
      if (path_end == std::string::npos || status_at == std::string::npos) continue;
      out.push_back(line.substr(status_at + 2, 3) + " " + line.substr(q + 5, path_end - q - 5));
    }
    return out;
  }

  void ExpectRefusedBeforeAnyWrite(const std::string& payload_file, const std::string& says);

  bool SlotBUntouched() {
    std::string b = ReadFile(target_->SlotPath(boot::Slot::kB));
    return b.find_first_not_of('\0') == std::string::npos;
  }

  std::unique_ptr<NginxServer> nginx_;
  std::unique_ptr<fakes::FakeUpdateTarget> target_;
  fakes::RecordingLogger log_;
};

const std::vector<std::string> kPayloadGets = {"404 /mirror-1/basalt_2.0.0_full.payload",
                                               "404 /mirror-2/basalt_2.0.0_full.payload",
                                               "200 /basalt_2.0.0_full.payload"};

// Installed into slot B past the two 404 mirrors: B holds the new /usr byte for byte, its
// kernel and initramfs (found in the verified /usr, since Omaha does not name them) are on the
// "ESP", and B boots next. The server hears the check, 13/1 and 14/1; once the new boot is
// marked good, 3/2 from version 2.0.0.
TEST_F(OmahaFlowTest, SignedPayloadOfferedByOmahaIsInstalledAndTheGoodBootReported) {
  Offer(g_payloads->signed_path);
  auto m = StartDaemon("boot-1");
  ASSERT_NE(m, nullptr);
  update::UpdateState s = Apply(*m);
  ASSERT_EQ(s.phase, update::Phase::kUpdatedNeedReboot) << s.last_error;
  EXPECT_EQ(s.version, "2.0.0");
  EXPECT_EQ(s.target_slot, "B");
  EXPECT_EQ(s.usr_root_hash, g_payloads->root_hash) << "from the signed payload";
  EXPECT_EQ(s.kernel_version, kKernelVersion);
  EXPECT_EQ(ReadFile(target_->SlotPath(boot::Slot::kB)).substr(0, g_payloads->usr_img.size()),
            g_payloads->usr_img);
  auto& bc = target_->fake_boot();
  EXPECT_EQ(bc.changes(),
            (std::vector<std::string>{"MarkBad B", "InstallSlot B 2.0.0", "SetNext B 3"}));
  ASSERT_TRUE(bc.entry(boot::Slot::kB).has_value());
  EXPECT_EQ(bc.entry(boot::Slot::kB)->usrhash, g_payloads->root_hash);
  EXPECT_EQ(bc.kernel(boot::Slot::kB), g_payloads->kernel);
  EXPECT_EQ(bc.initrd(boot::Slot::kB), g_payloads->initrd);
  EXPECT_EQ(PayloadRequests(), kPayloadGets);
  EXPECT_EQ(Heard(0, "1.0.0", "boot-1"),
            (std::vector<std::string>{"updatecheck", "event 13/1", "event 14/1"}));

  // The reboot: B comes up, the daemon starts in the new boot, the health unit marks it good.
  m.reset();
  ASSERT_EQ(target_->Reboot(), boot::Slot::kB);
  const size_t before = server_->Requests().size();
  m = StartDaemon("boot-2");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->Get().state.phase, update::Phase::kPendingHealth);
  ASSERT_TRUE(m->MarkGood().has_value());
  EXPECT_EQ(m->Get().state.phase, update::Phase::kGood);
  EXPECT_EQ(Heard(before, "2.0.0", "boot-2"), std::vector<std::string>{"event 3/2"});
}

// The same install, but the new slot never passes its health checks: its tries run out, the
// bootloader falls back to A, and the daemon tells the server 3/0 with code 2000.
TEST_F(OmahaFlowTest, RollbackAfterAnOmahaUpdateIsReported) {
  Offer(g_payloads->signed_path);
  auto m = StartDaemon("boot-1");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(Apply(*m).phase, update::Phase::kUpdatedNeedReboot);
  m.reset();
  for (int boot = 0; boot < 3; ++boot)
    ASSERT_EQ(target_->Reboot(), boot::Slot::kB);
  ASSERT_EQ(target_->Reboot(), boot::Slot::kA) << "the bootloader did not fall back";
  const size_t before = server_->Requests().size();
  m = StartDaemon("boot-5");
  ASSERT_NE(m, nullptr);
  update::UpdateState s = m->Get().state;
  EXPECT_EQ(s.phase, update::Phase::kRolledBack);
  EXPECT_TRUE(s.rolled_back_releases.contains("2.0.0"));
  EXPECT_EQ(Heard(before, "1.0.0", "boot-5"), std::vector<std::string>{"event 3/0 code 2000"});
}

// An offer the server vouched for (size and SHA-256 match, so the download completes and 14/1
// is sent) whose payload has no trusted signature: refused before anything is written (not
// even the boot state), slot B keeps every byte, and the server hears 3/0 code 18.
void OmahaFlowTest::ExpectRefusedBeforeAnyWrite(const std::string& payload_file,
                                                const std::string& says) {
  Offer(payload_file);
  auto m = StartDaemon("boot-1");
  ASSERT_NE(m, nullptr);
  update::UpdateState s = Apply(*m);
  EXPECT_EQ(s.phase, update::Phase::kIdle);
  EXPECT_NE(s.last_error.find(says), std::string::npos) << s.last_error;
  EXPECT_EQ(s.failures, (std::map<std::string, uint64_t>{{"integrity", 1}}));
  EXPECT_TRUE(SlotBUntouched()) << "slot B was written";
  auto& bc = target_->fake_boot();
  EXPECT_EQ(bc.changes(), std::vector<std::string>{});
  auto bs = bc.GetStatus();
  ASSERT_TRUE(bs.has_value());
  EXPECT_EQ(bs->next, boot::Slot::kA);
  EXPECT_EQ(PayloadRequests(), kPayloadGets);
  EXPECT_EQ(
      Heard(0, "1.0.0", "boot-1"),
      (std::vector<std::string>{"updatecheck", "event 13/1", "event 14/1", "event 3/0 code 18"}));
}

TEST_F(OmahaFlowTest, UnsignedPayloadOfferedByOmahaIsRefusedBeforeAnyWrite) {
  ExpectRefusedBeforeAnyWrite(g_payloads->unsigned_path, "carries no signature");
}

TEST_F(OmahaFlowTest, PayloadSignedByAnUntrustedKeyIsRefusedBeforeAnyWrite) {
  ExpectRefusedBeforeAnyWrite(g_payloads->rogue_path, "trusted");
}

// Omaha answers are unsigned, so a network attacker could offer anything; without TLS the host
// refuses the offer (the test rig sets the clearly named option everywhere else).
TEST_F(OmahaTest, PlainHttpPayloadUrlsNeedTheTestOption) {
  OmahaConfig cfg;
  cfg.server = server_->Url("/v1/update/");
  OmahaUpdateSource strict(cfg);
  server_->QueuePostResponse(Fixture("update-multi-url.xml", server_->Url("/"), pkg_));
  auto offer = strict.Check(Host());
  ASSERT_FALSE(offer);
  EXPECT_EQ(offer.error().message(),
            "Omaha server offers 2.0.0 from a non-https URL (http://...); refused (http:// only "
            "with OMAHA_INSECURE_HTTP_FOR_TESTING=yes)");
}

// A validly signed older release offered to a newer host: refused at the check, before a byte
// is downloaded or the boot state touched; the host stays on its version.
TEST_F(OmahaFlowTest, DowngradeOfferIsRefusedBeforeTheDownload) {
  target_ = std::make_unique<fakes::FakeUpdateTarget>(tmp_ / "disk3", 16 << 20, "3.0.0");
  Offer(g_payloads->signed_path);
  auto m = StartDaemon("boot-1");
  ASSERT_NE(m, nullptr);
  update::UpdateState s = Apply(*m);
  EXPECT_EQ(s.phase, update::Phase::kIdle);
  EXPECT_EQ(s.last_error,
            "the update server offers 2.0.0, which is not newer than the running 3.0.0; only "
            "signed channel metadata (or `basalt update apply --to 2.0.0`) may move a host back");
  EXPECT_EQ(s.failures, (std::map<std::string, uint64_t>{{"policy", 1}}));
  EXPECT_TRUE(PayloadRequests().empty());
  EXPECT_TRUE(SlotBUntouched());
  EXPECT_EQ(target_->fake_boot().changes(), std::vector<std::string>{});
}

// The running version offered in another spelling ("2.0" to a host on 2.0.0): up to date, not an
// error at every check, and nothing downloaded.
TEST_F(OmahaFlowTest, TheRunningVersionSpelledDifferentlyIsUpToDate) {
  target_ = std::make_unique<fakes::FakeUpdateTarget>(tmp_ / "disk2", 16 << 20, "2.0.0");
  Offer(g_payloads->signed_path, "2.0");
  auto m = StartDaemon("boot-1");
  ASSERT_NE(m, nullptr);
  update::UpdateState s = Apply(*m);
  EXPECT_EQ(s.phase, update::Phase::kIdle);
  EXPECT_EQ(s.last_error, "");
  EXPECT_EQ(s.wait_reason, "up to date: the update server offers 2.0, which is the running 2.0.0");
  EXPECT_TRUE(s.failures.empty());
  EXPECT_TRUE(PayloadRequests().empty());
  EXPECT_TRUE(SlotBUntouched());
}

// The signed 2.0.0 payload offered as "99.0" (to record a version no channel can ever top): the
// payload's signed version decides, and the offer is refused before anything is written.
TEST_F(OmahaFlowTest, AMislabelledOfferIsRefusedBeforeAnyWrite) {
  Offer(g_payloads->signed_path, "99.0");
  auto m = StartDaemon("boot-1");
  ASSERT_NE(m, nullptr);
  update::UpdateState s = Apply(*m);
  EXPECT_EQ(s.phase, update::Phase::kIdle);
  EXPECT_EQ(s.last_error,
            "the payload is signed as version 2.0.0, but version 99.0 was offered; nothing was "
            "written");
  EXPECT_TRUE(SlotBUntouched());
  EXPECT_EQ(target_->fake_boot().changes(), std::vector<std::string>{});
  auto bs = target_->fake_boot().GetStatus();
  ASSERT_TRUE(bs.has_value());
  EXPECT_EQ(bs->slots[boot::SlotIndex(boot::Slot::kA)].version, "1.0.0");
  EXPECT_EQ(bs->next, boot::Slot::kA);
}

}  // namespace
}  // namespace basalt::fleet
