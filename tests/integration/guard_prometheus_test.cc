// The fleet view end to end: three simulated hosts whose metrics files are written by the
// daemon's own code path (StateStore saves with WriteMetricsOnSave, RecordRollback for a failed
// boot) into three textfile directories; three Debian prometheus-node-exporter processes serve
// them; a Debian prometheus scrapes those every second; `basalt rollout guard` reads the fleet
// through Prometheus's HTTP query API and pauses or widens the channel with a signed document.
// Everything listens on 127.0.0.1; every child is killed when the test ends, however it ends.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fd.h"
#include "common/keyring.h"
#include "common/log.h"
#include "common/signing.h"
#include "daemon/fleet_wiring.h"
#include "daemon/state_store.h"
#include "http/fetcher.h"
#include "repo/channel.h"
#include "repo/channel_ops.h"
#include "repo/dsse.h"
#include "test_util.h"

namespace basalt {
namespace {

namespace fs = std::filesystem;
using basalt::testing::PortReservation;
using basalt::testing::TempDir;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kNodeExporter[] = "/usr/bin/prometheus-node-exporter";

// A child process killed (SIGTERM, then SIGKILL) and reaped by the destructor; it also dies with
// this process (PR_SET_PDEATHSIG) if the test crashes, so nothing is left listening.
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& log) {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    if (pid_ < 0) throw std::runtime_error("fork failed");
  }
  ~Child() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  bool exited() {
    if (pid_ <= 0) return true;
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
};

class NullLogger : public Logger {
 public:
  void Log(LogLevel, std::string_view m, const std::vector<LogField>&) override {
    messages.emplace_back(m);
  }
  std::vector<std::string> messages;
};

// What a simulated host has done; its metrics come from the daemon's writer, not from text.
struct Host {
  std::string current_version = {};
  std::string rolled_back_from = {};  // "" none: the host booted this release and fell back
  bool on_new_and_good = false;       // booted the new release and judged it good
  std::string failed_install = {};    // tried this release; its payload failed verification
};

// A server on a reserved port, retried on another port when it exits at start (a process
// outside the suite took the port).
struct Server {
  std::unique_ptr<PortReservation> port;
  std::unique_ptr<Child> child;
};

Server StartServer(const std::function<std::vector<std::string>(int port)>& args,
                   const std::string& log) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    Server s;
    s.port = std::make_unique<PortReservation>();
    s.child = std::make_unique<Child>(args(s.port->port()), log);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (s.child->exited()) break;
      if (basalt::testing::PortOpen(s.port->port())) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  throw std::runtime_error("could not start " + args(0)[0] + "; see " + log);
}

class GuardPrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {kPrometheus, kNodeExporter}) {
      if (access(tool, X_OK) != 0) {
        GTEST_SKIP() << tool << " is not installed (apt-get install prometheus "
                     << "prometheus-node-exporter)";
      }
    }
    const char* bin = getenv("BASALT_BIN_DIR");
    basalt_ = std::string(bin ? bin : ".") + "/basalt";
    repo_ = dir_ / "repo";
    key_path_ = dir_ / "channel.pem";
    auto key = PrivateKey::Generate(KeyType::kEd25519);
    ASSERT_TRUE(key.has_value());
    auto pem = key->ToPem();
    ASSERT_TRUE(pem.has_value());
    basalt::testing::WriteFile(key_path_, *pem);
    ring_.Add(key->public_key());
    keys_.push_back(std::move(*key));
    // Two releases: the channel op binds to their documents' hashes only, so a signed stub
    // body is enough here (publishing needs images, which this test is not about).
    for (const char* v : {"1.0", "2.0"}) {
      auto env = repo::SignEnvelope(repo::kReleasePayloadType,
                                    fmt::format("{{\"version\":\"{}\"}}", v), keys_);
      ASSERT_TRUE(env.has_value());
      basalt::testing::WriteFile(fmt::format("{}/releases/{}/release.json", repo_, v), *env);
    }
  }

  // The host's metrics file, written as basalt-updated writes it: a StateStore save with the
  // metrics hook, RecordRollback for a boot that fell back.
  void WriteHost(int i, const Host& h) {
    std::string dir = dir_ / fmt::format("host{}", i);
    fs::create_directories(dir + "/textfile");
    update::StateStore store(dir + "/state");
    update::WriteMetricsOnSave(
        store, dir + "/textfile/basalt.prom", [v = h.current_version] { return v; }, "stable",
        log_);
    auto s = store.Load();
    ASSERT_TRUE(s.has_value());
    if (!h.rolled_back_from.empty()) {
      s->version = h.rolled_back_from;
      s->target_slot = "B";
      update::RecordRollback(*s, "A");
    } else if (!h.failed_install.empty()) {
      // What UpdateFlow records when a payload fails verification: the counter by reason, the
      // plan dropped, idle again, the attempt's version kept.
      s->version = h.failed_install;
      s->phase = update::Phase::kIdle;
      ++s->failures[update::FailureReason(Error(ErrorKind::kIntegrity, "payload hash mismatch"),
                                          update::Phase::kApplying)];
      s->last_error = "payload hash mismatch";
    } else if (h.on_new_and_good) {
      s->phase = update::Phase::kGood;
      s->version = h.current_version;
      s->booted_version = h.current_version;
    }
    ASSERT_TRUE(store.Save(*s).has_value());
    ASSERT_TRUE(fs::exists(dir + "/textfile/basalt.prom"));
    EXPECT_EQ(fs::status(dir + "/textfile/basalt.prom").permissions() & fs::perms::all,
              fs::perms(0644));
  }

  void StartFleet() {
    std::vector<std::string> targets;
    for (int i = 0; i < 3; ++i) {
      std::string textfile = dir_ / fmt::format("host{}/textfile", i);
      exporters_.push_back(StartServer(
          [&](int port) {
            return std::vector<std::string>{kNodeExporter,
                                            fmt::format("--web.listen-address=127.0.0.1:{}", port),
                                            "--collector.disable-defaults", "--collector.textfile",
                                            "--collector.textfile.directory=" + textfile};
          },
          dir_ / fmt::format("exporter{}.log", i)));
      targets.push_back(fmt::format("'127.0.0.1:{}'", exporters_.back().port->port()));
    }
    std::string config = dir_ / "prometheus.yml";
    basalt::testing::WriteFile(
        config, fmt::format("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                            "scrape_configs:\n  - job_name: basalt\n    static_configs:\n"
                            "      - targets: [{}]\n",
                            fmt::join(targets, ", ")));
    std::string tsdb = dir_ / "tsdb";
    prometheus_ = StartServer(
        [&](int port) {
          return std::vector<std::string>{
              kPrometheus, "--config.file=" + config, "--storage.tsdb.path=" + tsdb,
              fmt::format("--web.listen-address=127.0.0.1:{}", port), "--log.level=warn"};
        },
        dir_ / "prometheus.log");
    url_ = fmt::format("http://127.0.0.1:{}", prometheus_.port->port());
  }

  static bool AsPrometheusUser() {
    return geteuid() == 0 && getpwnam("prometheus") != nullptr &&
           access("/usr/bin/setpriv", X_OK) == 0;
  }

  // Waits until Prometheus's query API answers `query` with the single value `want`.
  void WaitForQuery(const std::string& query, const std::string& want) {
    auto fetcher = http::MakeCurlFetcher();
    std::string last;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string url = url_ + "/api/v1/query?query=";
      for (unsigned char c : query)
        url += std::isalnum(c) ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
      auto body = fetcher->Get(url, 1 << 20);
      if (body) {
        last = *body;
        auto j = nlohmann::json::parse(*body, nullptr, false);
        if (!j.is_discarded() && j["data"]["result"].size() == 1 &&
            j["data"]["result"][0]["value"][1] == want) {
          return;
        }
      } else {
        last = body.error().message();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    FAIL() << "Prometheus never answered " << query << " with " << want << "; last: " << last;
  }

  void SetChannel(uint32_t limit) {
    repo::ChannelOp set;
    set.kind = repo::ChannelOpKind::kSet;
    set.release = "2.0";
    ASSERT_TRUE(repo::ChangeChannel(repo_, "stable", set, keys_, Now(), std::chrono::hours(24)));
    repo::ChannelOp step;
    step.kind = repo::ChannelOpKind::kRollout;
    step.limit_percent = limit;
    ASSERT_TRUE(repo::ChangeChannel(repo_, "stable", step, keys_, Now(), std::chrono::hours(24)));
  }

  // The channel as a host would accept it: the signature verified with the channel key.
  repo::Channel SignedChannel() {
    auto text = ReadFileToString(repo_ + "/channels/stable.json");
    EXPECT_TRUE(text.has_value());
    auto body = repo::OpenVerified(*text, repo::kChannelPayloadType, ring_, 1);
    EXPECT_TRUE(body.has_value()) << body.error().message();
    auto ch = repo::ParseChannel(*body);
    EXPECT_TRUE(ch.has_value());
    return *ch;
  }

  basalt::testing::CommandResult Guard(const std::string& policy, const std::string& extra) {
    std::string policy_path = dir_ / "policy.json";
    basalt::testing::WriteFile(policy_path, policy);
    return basalt::testing::Sh(fmt::format(
        "{} rollout guard --repo {} --channel stable --key {} --prometheus {} --policy {} {} 2>&1",
        basalt::testing::Quote(basalt_), basalt::testing::Quote(repo_),
        basalt::testing::Quote(key_path_), url_, basalt::testing::Quote(policy_path), extra));
  }

  TempDir dir_{"basalt-guard"};
  std::string basalt_, repo_, key_path_, url_;
  std::vector<PrivateKey> keys_;
  Keyring ring_;
  NullLogger log_;
  std::vector<Server> exporters_;
  Server prometheus_;
};

constexpr char kPolicy[] = R"({"steps":[10,50,100],"soak":"0s","min_hosts":2,"max_bad_percent":20,)"
                           R"("max_percent_of_old":200})";

TEST_F(GuardPrometheusTest, ABadReleaseThatRollsBackOnOneHostOfThreeIsPaused) {
  WriteHost(0, {.current_version = "2.0", .on_new_and_good = true});
  WriteHost(1, {.current_version = "1.0", .rolled_back_from = "2.0"});
  WriteHost(2, {.current_version = "1.0"});
  StartFleet();
  WaitForQuery("count(basalt_update_info{channel=\"stable\"})", "3");
  WaitForQuery("count(basalt_update_rolled_back_release{release=\"2.0\"})", "1");
  // Every exporter read its textfile (as user prometheus when the test runs as root).
  WaitForQuery("max(node_textfile_scrape_error)", "0");
  SetChannel(10);
  auto before = ReadFileToString(repo_ + "/channels/stable.json");
  ASSERT_TRUE(before.has_value());

  auto dry = Guard(kPolicy, "--dry-run --json");
  ASSERT_EQ(dry.status, 0) << dry.output;
  auto j = nlohmann::json::parse(dry.output);
  EXPECT_EQ(j["action"], "pause");
  EXPECT_EQ(j["code"], "bad-rate");
  EXPECT_EQ(j["changed"], false);
  EXPECT_EQ(j["sample"]["new_hosts"], 1);
  EXPECT_EQ(j["sample"]["new_rollbacks"], 1);
  EXPECT_EQ(j["sample"]["old_hosts"], 2);
  EXPECT_EQ(*ReadFileToString(repo_ + "/channels/stable.json"), *before) << "dry run changed it";
  EXPECT_FALSE(fs::exists(repo_ + ".guard-stable.json")) << "dry run wrote its state";

  auto run = Guard(kPolicy, "");
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("pause (bad-rate): 1 of 2 hosts that tried release 2.0 rolled back"),
            std::string::npos)
      << run.output;
  auto ch = SignedChannel();
  EXPECT_TRUE(ch.paused);
  EXPECT_EQ(ch.release, "2.0");
  ASSERT_TRUE(ch.rollout.has_value());
  EXPECT_EQ(ch.rollout->limit_percent, 10u) << "a pause does not move the wave";

  // Already paused: left alone, not re-signed.
  auto paused = ReadFileToString(repo_ + "/channels/stable.json");
  auto again = Guard(kPolicy, "");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("none (paused)"), std::string::npos) << again.output;
  EXPECT_EQ(*ReadFileToString(repo_ + "/channels/stable.json"), *paused);
}

TEST_F(GuardPrometheusTest, AFailedInstallCountsAgainstTheRelease) {
  WriteHost(0, {.current_version = "2.0", .on_new_and_good = true});
  WriteHost(1, {.current_version = "1.0", .failed_install = "2.0"});
  WriteHost(2, {.current_version = "1.0"});
  StartFleet();
  WaitForQuery("count(basalt_update_info{channel=\"stable\"})", "3");
  WaitForQuery("count(basalt_update_attempt_info{release=\"2.0\"})", "2");
  SetChannel(10);
  auto run = Guard(kPolicy, "--json");
  ASSERT_EQ(run.status, 0) << run.output;
  auto j = nlohmann::json::parse(run.output);
  EXPECT_EQ(j["action"], "pause");
  EXPECT_EQ(j["sample"]["new_failing"], 1);
  EXPECT_EQ(j["sample"]["new_rollbacks"], 0);
  EXPECT_TRUE(SignedChannel().paused);
}

TEST_F(GuardPrometheusTest, AHealthyReleaseIsWidenedOneStep) {
  WriteHost(0, {.current_version = "2.0", .on_new_and_good = true});
  WriteHost(1, {.current_version = "2.0", .on_new_and_good = true});
  WriteHost(2, {.current_version = "1.0"});
  StartFleet();
  WaitForQuery("count(basalt_update_info{channel=\"stable\",current_version=\"2.0\"})", "2");
  WaitForQuery("count(basalt_update_info{channel=\"stable\"})", "3");
  SetChannel(10);
  uint64_t version = SignedChannel().metadata_version;

  auto dry = Guard(kPolicy, "--dry-run");
  ASSERT_EQ(dry.status, 0) << dry.output;
  EXPECT_NE(dry.output.find("would widen (dry run) (healthy)"), std::string::npos) << dry.output;
  EXPECT_EQ(SignedChannel().rollout->limit_percent, 10u);

  auto run = Guard(kPolicy, "--json");
  ASSERT_EQ(run.status, 0) << run.output;
  auto j = nlohmann::json::parse(run.output);
  EXPECT_EQ(j["action"], "widen");
  EXPECT_EQ(j["widen_to"], 50);
  auto ch = SignedChannel();
  EXPECT_FALSE(ch.paused);
  ASSERT_TRUE(ch.rollout.has_value());
  EXPECT_EQ(ch.rollout->limit_percent, 50u) << "one step per run";
  EXPECT_EQ(ch.metadata_version, version + 1);

  // With an hour's soak the new step must wait: nothing changes.
  std::string soaking = R"({"steps":[10,50,100],"soak":"1h","min_hosts":2,"max_bad_percent":20})";
  auto wait = Guard(soaking, "");
  ASSERT_EQ(wait.status, 0) << wait.output;
  EXPECT_NE(wait.output.find("none (soaking)"), std::string::npos) << wait.output;
  EXPECT_EQ(SignedChannel().rollout->limit_percent, 50u);
}

}  // namespace
}  // namespace basalt
