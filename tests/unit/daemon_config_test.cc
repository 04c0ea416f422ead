#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "daemon/config.h"

namespace basalt::daemon {
namespace {

using std::chrono::seconds;

TEST(DurationTest, FlatcarAndSystemdSpellings) {
  EXPECT_EQ(*ParseDuration("90"), seconds(90));
  EXPECT_EQ(*ParseDuration("90s"), seconds(90));
  EXPECT_EQ(*ParseDuration("15m"), seconds(900));
  EXPECT_EQ(*ParseDuration("1h30m"), seconds(5400));
  EXPECT_EQ(*ParseDuration("2d"), seconds(172800));
  EXPECT_FALSE(ParseDuration("1x"));
  EXPECT_FALSE(ParseDuration("h"));
  EXPECT_FALSE(ParseDuration("-5"));
  EXPECT_FALSE(ParseDuration(""));
}

TEST(WindowTest, WeekdayAndDaily) {
  auto w = ParseWindowStart("Thu 04:00");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->weekday, 4);
  EXPECT_EQ(w->minute_of_day, 240);
  auto daily = ParseWindowStart("23:59");
  ASSERT_TRUE(daily);
  EXPECT_FALSE(daily->weekday.has_value());
  EXPECT_EQ(daily->minute_of_day, 23 * 60 + 59);
  EXPECT_FALSE(ParseWindowStart("Thx 04:00"));
  EXPECT_FALSE(ParseWindowStart("24:00"));
  EXPECT_FALSE(ParseWindowStart("4"));
}

TEST(ConfigTextTest, ParsesAllKeysWithQuotesAndComments) {
  UpdateConfig cfg;
  auto s = ApplyConfigText(
      "# comment\n\nSERVER=http://127.0.0.1:8080/repo\nGROUP=beta\nPIN=1.2.3\n"
      "CHECK_INTERVAL=30m\nREBOOT_STRATEGY=window\nREBOOT_WINDOW_START=\"Sun 02:30\"\n"
      "REBOOT_WINDOW_LENGTH='1h'\nHEALTH_TIMEOUT=5m\n",
      "test.conf", cfg);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(cfg.server, "http://127.0.0.1:8080/repo");
  EXPECT_EQ(cfg.channel, "beta");
  EXPECT_EQ(cfg.pin, "1.2.3");
  EXPECT_EQ(cfg.check_interval, seconds(1800));
  EXPECT_EQ(cfg.reboot_strategy, RebootStrategy::kWindow);
  ASSERT_TRUE(cfg.reboot_window);
  EXPECT_EQ(cfg.reboot_window->weekday, 0);
  EXPECT_EQ(cfg.reboot_window->minute_of_day, 150);
  EXPECT_EQ(cfg.reboot_window->length, seconds(3600));
  EXPECT_EQ(cfg.health_timeout, seconds(300));
}

TEST(ConfigTextTest, ErrorsNameFileAndLine) {
  UpdateConfig cfg;
  auto s = ApplyConfigText("SERVER=x\n\nREBOOT_STRATGY=off\n", "/etc/basalt/update.conf", cfg);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "/etc/basalt/update.conf:3: unknown key REBOOT_STRATGY");
  auto bad = ApplyConfigText("REBOOT_STRATEGY=sometimes\n", "a.conf", cfg);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("a.conf:1: REBOOT_STRATEGY 'sometimes'"), std::string::npos)
      << bad.error().message();
  EXPECT_FALSE(ApplyConfigText("JUSTTEXT\n", "b.conf", cfg));
  EXPECT_FALSE(ApplyConfigText("CHECK_INTERVAL=0\n", "c.conf", cfg));
  EXPECT_FALSE(ApplyConfigText("PIN=\"1.2\n", "d.conf", cfg));
  // A pin follows the version grammar: "v1.2" would compare as text, above every release.
  auto pin = ApplyConfigText("PIN=v1.2\n", "e.conf", cfg);
  ASSERT_FALSE(pin);
  EXPECT_NE(pin.error().message().find("e.conf:1: PIN: version \"v1.2\" must start with a digit"),
            std::string::npos)
      << pin.error().message();
  // The shared duration grammar (systemd spans) in update.conf.
  ASSERT_TRUE(ApplyConfigText("CHECK_INTERVAL=1h 30min\n", "f.conf", cfg));
  EXPECT_EQ(cfg.check_interval, std::chrono::seconds(5400));
}

TEST(ConfigTextTest, BootTriesIsBoundedByWhatTheBootloaderStores) {
  UpdateConfig cfg;
  EXPECT_EQ(cfg.boot_tries, 3);
  ASSERT_TRUE(ApplyConfigText("BOOT_TRIES=1\n", "a.conf", cfg));
  EXPECT_EQ(cfg.boot_tries, 1);
  for (const char* bad :
       {"BOOT_TRIES=0\n", "BOOT_TRIES=16\n", "BOOT_TRIES=2x\n", "BOOT_TRIES=\n"}) {
    auto s = ApplyConfigText(bad, "b.conf", cfg);
    ASSERT_FALSE(s) << bad;
    EXPECT_NE(s.error().message().find("b.conf:1: BOOT_TRIES"), std::string::npos)
        << s.error().message();
  }
  EXPECT_EQ(cfg.boot_tries, 1);
}

TEST(ConfigTextTest, TransferTimeRules) {
  UpdateConfig cfg;
  EXPECT_EQ(cfg.metadata_timeout, std::chrono::seconds(60));
  EXPECT_EQ(cfg.download_min_rate_kib, 4u);
  EXPECT_EQ(cfg.download_min_rate_window, std::chrono::seconds(120));
  ASSERT_TRUE(ApplyConfigText(
      "METADATA_TIMEOUT=30s\nDOWNLOAD_MIN_RATE=16\nDOWNLOAD_MIN_RATE_WINDOW=5m\n", "a.conf", cfg));
  EXPECT_EQ(cfg.metadata_timeout, std::chrono::seconds(30));
  EXPECT_EQ(cfg.download_min_rate_kib, 16u);
  EXPECT_EQ(cfg.download_min_rate_window, std::chrono::seconds(300));
  ASSERT_TRUE(ApplyConfigText("METADATA_TIMEOUT=0\nDOWNLOAD_MIN_RATE=0\n", "a.conf", cfg));
  EXPECT_EQ(cfg.metadata_timeout, std::chrono::seconds(0)) << "0 turns the deadline off";
  EXPECT_EQ(cfg.download_min_rate_kib, 0u) << "0 turns the floor off";
  for (const char* bad : {"DOWNLOAD_MIN_RATE=-1\n", "DOWNLOAD_MIN_RATE=4k\n",
                          "DOWNLOAD_MIN_RATE_WINDOW=0\n", "METADATA_TIMEOUT=2d\n"}) {
    auto s = ApplyConfigText(bad, "b.conf", cfg);
    ASSERT_FALSE(s) << bad;
    EXPECT_NE(s.error().message().find("b.conf:1: "), std::string::npos) << s.error().message();
  }
}

class LoadConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (std::filesystem::temp_directory_path() / "basalt-conf-XXXXXX").string();
    root_ = ::mkdtemp(t.data());
    std::filesystem::create_directories(root_ + "/usr/share/basalt");
    std::filesystem::create_directories(root_ + "/etc/basalt/update.conf.d");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    ASSERT_TRUE(WriteFileAtomic(root_ + "/" + rel, text));
  }
  std::string root_;
};

TEST_F(LoadConfigTest, LaterFilesWinInDocumentedOrder) {
  Write("usr/share/basalt/update.conf", "SERVER=https://updates.example/\nCHANNEL=stable\n");
  Write("etc/basalt/update.conf", "CHANNEL=beta\nPIN=2.0.0\n");
  Write("etc/basalt/update.conf.d/20-late.conf", "PIN=3.0.0\n");
  Write("etc/basalt/update.conf.d/10-early.conf", "PIN=1.0.0\nREBOOT_STRATEGY=off\n");
  Write("etc/basalt/update.conf.d/ignored.txt", "NOT A CONFIG\n");
  auto cfg = LoadUpdateConfig(root_);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->server, "https://updates.example/");
  EXPECT_EQ(cfg->channel, "beta");
  EXPECT_EQ(cfg->pin, "3.0.0");
  EXPECT_EQ(cfg->reboot_strategy, RebootStrategy::kOff);
}

TEST_F(LoadConfigTest, CrossKeyRules) {
  auto none = LoadUpdateConfig(root_);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no SERVER"), std::string::npos);
  Write("etc/basalt/update.conf", "SERVER=file:///srv/repo\nREBOOT_STRATEGY=window\n");
  auto no_window = LoadUpdateConfig(root_);
  ASSERT_FALSE(no_window);
  EXPECT_NE(no_window.error().message().find("REBOOT_WINDOW_START"), std::string::npos);
  Write("etc/basalt/update.conf.d/w.conf",
        "REBOOT_WINDOW_START=Thu 04:00\nREBOOT_WINDOW_LENGTH=1h\n");
  EXPECT_TRUE(LoadUpdateConfig(root_));
}

TEST_F(LoadConfigTest, FleetKeys) {
  Write("etc/basalt/update.conf",
        "SERVER=https://nebraska.example/v1/update/\nPROTOCOL=omaha\n"
        "OMAHA_APP_ID={e96281a6-d1af-4bde-9a0a-97b76e56dc57}\nREBOOT_STRATEGY=etcd-lock\n"
        "ROOT_SERVER=https://updates.example/stable-repo/\n"
        "ETCD_ENDPOINTS=https://etcd-1:2379, https://etcd-2:2379\nETCD_LOCK_GROUP=web-eu\n"
        "ETCD_MAX_HOLDERS=3\nETCD_LOCK_TTL=2h\nETCD_CAFILE=/etc/ssl/etcd/ca.pem\n"
        "ETCD_CERTFILE=/etc/ssl/etcd/host.pem\nETCD_KEYFILE=/etc/ssl/etcd/host-key.pem\n"
        "METRICS_PATH=/var/lib/node_exporter/basalt.prom\n");
  auto cfg = LoadUpdateConfig(root_);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->protocol, UpdateProtocol::kOmaha);
  EXPECT_EQ(cfg->omaha_app_id, "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}");
  EXPECT_EQ(cfg->root_server, "https://updates.example/stable-repo/");
  EXPECT_EQ(cfg->reboot_strategy, RebootStrategy::kEtcdLock);
  EXPECT_EQ(cfg->etcd.endpoints,
            (std::vector<std::string>{"https://etcd-1:2379", "https://etcd-2:2379"}));
  EXPECT_EQ(cfg->etcd.group, "web-eu");
  EXPECT_EQ(cfg->etcd.max_holders, 3);
  EXPECT_EQ(cfg->etcd.lease_ttl, std::chrono::hours(2));
  EXPECT_EQ(cfg->etcd.key_file, "/etc/ssl/etcd/host-key.pem");
  EXPECT_EQ(cfg->metrics_path, "/var/lib/node_exporter/basalt.prom");

  UpdateConfig c;
  for (const char* bad : {"ETCD_ENDPOINTS=etcd:2379", "ETCD_LOCK_GROUP=a/b", "ETCD_MAX_HOLDERS=0",
                          "ETCD_LOCK_TTL=10s", "ETCD_TYPO=1", "PROTOCOL=grpc"}) {
    auto s = ApplyConfigText(bad, "f.conf", c);
    ASSERT_FALSE(s) << bad;
    EXPECT_TRUE(s.error().message().starts_with("f.conf:1: ")) << s.error().message();
  }
  Write("etc/basalt/update.conf", "SERVER=file:///srv/repo\nREBOOT_STRATEGY=etcd-lock\n");
  auto no_etcd = LoadUpdateConfig(root_);
  ASSERT_FALSE(no_etcd);
  EXPECT_NE(no_etcd.error().message().find("needs ETCD_ENDPOINTS"), std::string::npos);
  Write("etc/basalt/update.conf", "SERVER=file:///srv/repo\nPROTOCOL=omaha\n");
  EXPECT_FALSE(LoadUpdateConfig(root_));
}

// Omaha answers are unsigned: the server must be https unless the test-rig option says so.
TEST_F(LoadConfigTest, OmahaNeedsHttpsUnlessTheTestOptionIsSet) {
  Write("etc/basalt/update.conf", "SERVER=http://nebraska.example/v1/update/\nPROTOCOL=omaha\n");
  auto plain = LoadUpdateConfig(root_);
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().message(),
            "PROTOCOL=omaha needs an https:// SERVER (http:// only with "
            "OMAHA_INSECURE_HTTP_FOR_TESTING=yes, for test rigs)");
  Write("etc/basalt/update.conf.d/rig.conf", "OMAHA_INSECURE_HTTP_FOR_TESTING=yes\n");
  auto rig = LoadUpdateConfig(root_);
  ASSERT_TRUE(rig) << rig.error().message();
  EXPECT_TRUE(rig->omaha_insecure_http);
  UpdateConfig c;
  EXPECT_FALSE(ApplyConfigText("OMAHA_INSECURE_HTTP_FOR_TESTING=1", "f.conf", c));
}

// A host enforces a signature threshold of its own (THRESHOLD=), not the default of one.
TEST_F(LoadConfigTest, ThresholdIsAHostSetting) {
  UpdateConfig c;
  EXPECT_EQ(c.threshold, 1u);
  ASSERT_TRUE(ApplyConfigText("THRESHOLD=2", "f.conf", c));
  EXPECT_EQ(c.threshold, 2u);
  for (const char* bad : {"THRESHOLD=0", "THRESHOLD=17", "THRESHOLD=two", "THRESHOLD=2 "}) {
    UpdateConfig d;
    auto s = ApplyConfigText(bad, "f.conf", d);
    if (std::string_view(bad) == "THRESHOLD=2 ") {
      // Values are trimmed like every other key.
      EXPECT_TRUE(s) << bad;
      continue;
    }
    ASSERT_FALSE(s) << bad;
    EXPECT_TRUE(s.error().message().starts_with("f.conf:1: THRESHOLD")) << s.error().message();
  }
}

}  // namespace
}  // namespace basalt::daemon
