// The etcd reboot lock against a real etcd (Debian etcd-server) on 127.0.0.1: contention between
// host processes, kill -9 of the holder and its restart, `basalt fleet lock unlock`, lease
// expiry, set-max and endpoint failover.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "fleet/etcd_lock_coordinator.h"
#include "integration/fleet_etcd_fixture.h"

extern char** environ;

namespace basalt::fleet {
namespace {

using namespace std::chrono_literals;
using testing::EtcdServer;

std::string BinDir() {
  const char* dir = getenv("BASALT_BIN_DIR");
  return dir ? dir : "out/default/bin";
}

class FleetLockTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { etcd_ = new EtcdServer(); }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }
  void SetUp() override {
    if (!etcd_->error().empty()) {
      if (!EtcdServer::installed()) GTEST_SKIP() << etcd_->error();
      FAIL() << etcd_->error();
    }
    char tmpl[] = "/tmp/basalt-fleet-lock-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    log_ = dir_ + "/log";
  }
  void TearDown() override {
    for (pid_t p : children_) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  pid_t Spawn(const std::vector<std::string>& args) {
    std::vector<std::string> a = args;
    std::vector<char*> argv;
    for (auto& s : a)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    EXPECT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
    children_.push_back(pid);
    return pid;
  }

  pid_t Contender(const std::string& group, const std::string& id,
                  std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {BinDir() + "/fleet_lock_contender",
                                     "--endpoints",
                                     etcd_->endpoint(),
                                     "--group",
                                     group,
                                     "--id",
                                     id,
                                     "--log",
                                     log_};
    args.insert(args.end(), extra.begin(), extra.end());
    return Spawn(args);
  }

  // Exit status of pid, waiting at most `limit`.
  int Wait(pid_t pid, std::chrono::seconds limit = 60s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        std::erase(children_, pid);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "process " << pid << " did not finish in " << limit.count() << "s";
    return -1;
  }

  void KillHard(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    std::erase(children_, pid);
  }

  // The contenders' log; "wait ID" lines (a contender found the group full) only when asked,
  // since how often a contender polls is not part of what the tests assert.
  std::vector<std::string> LogLines(bool with_waits = false) {
    std::ifstream in(log_);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) {
      if (with_waits || !l.starts_with("wait ")) out.push_back(l);
    }
    return out;
  }

  bool WaitForLine(const std::string& line, std::chrono::seconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {  // looks at least once, so a limit of 0s checks the log as it is now
      for (const auto& l : LogLines(true))
        if (l == line) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
  }

  std::unique_ptr<EtcdClient> Client(std::vector<std::string> endpoints = {}) {
    EtcdOptions o;
    o.endpoints = endpoints.empty() ? std::vector<std::string>{etcd_->endpoint()} : endpoints;
    o.request_timeout_seconds = 2;
    auto c = EtcdClient::Create(o);
    EXPECT_TRUE(c.has_value());
    return std::move(*c);
  }

  std::vector<std::string> Holders(const std::string& group) {
    auto c = Client();
    RebootLock lock(*c, group, 1, 60s);
    auto st = lock.Status();
    EXPECT_TRUE(st.has_value()) << (st ? "" : st.error().message());
    std::vector<std::string> ids;
    if (st)
      for (const auto& h : st->holders)
        ids.push_back(h.machine_id);
    return ids;
  }

  // Runs `basalt fleet ...`, returning the exit code and stdout.
  std::pair<int, std::string> Basalt(const std::string& args) {
    std::string cmd = BinDir() + "/basalt fleet " + args + " 2>" + dir_ + "/stderr";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;)
      out.append(buf, n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
  }

  // Mutual exclusion as the hosts saw it: in the log, every acquire is followed by the same
  // host's release before any other acquire.
  void ExpectAlternating(const std::vector<std::string>& lines) {
    std::string holder;
    for (const auto& l : lines) {
      if (l.starts_with("acquire ")) {
        EXPECT_EQ(holder, "") << "acquired by " << l.substr(8) << " while " << holder << " held it";
        holder = l.substr(8);
      } else if (l.starts_with("release ")) {
        EXPECT_EQ(holder, l.substr(8)) << "release without holding";
        holder.clear();
      }
    }
    EXPECT_EQ(holder, "");
  }

  static EtcdServer* etcd_;
  std::string dir_, log_;
  std::vector<pid_t> children_;
};

EtcdServer* FleetLockTest::etcd_ = nullptr;

TEST_F(FleetLockTest, ThreeHostsMaxOneHolderAtATime) {
  // A watcher samples the semaphore all through the run: never more than one holder.
  std::atomic<bool> stop{false};
  std::atomic<size_t> max_seen{0}, samples{0};
  std::thread watcher([&] {
    auto c = Client();
    RebootLock lock(*c, "contend", 1, 60s);
    while (!stop) {
      if (auto st = lock.Status()) {
        max_seen = std::max(max_seen.load(), st->holders.size());
        ++samples;
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  std::vector<pid_t> hosts;
  for (const char* id : {"host-a", "host-b", "host-c"})
    hosts.push_back(Contender("contend", id, {"--hold-ms", "400"}));
  for (pid_t p : hosts)
    EXPECT_EQ(Wait(p), 0);
  stop = true;
  watcher.join();

  auto lines = LogLines();
  ASSERT_EQ(lines.size(), 6u);
  ExpectAlternating(lines);
  for (const char* id : {"host-a", "host-b", "host-c"}) {
    EXPECT_EQ(std::count(lines.begin(), lines.end(), std::string("acquire ") + id), 1) << id;
  }
  EXPECT_EQ(max_seen.load(), 1u) << "over " << samples.load() << " samples";
  EXPECT_TRUE(Holders("contend").empty()) << "all slots are given back";
}

TEST_F(FleetLockTest, KilledHolderKeepsTheSlotAndResumesWhenRestarted) {
  std::string never = dir_ + "/never";
  pid_t a = Contender("crash", "host-a", {"--hold-until", never});
  ASSERT_TRUE(WaitForLine("acquire host-a"));
  KillHard(a);  // dies "during the reboot", still holding the slot

  pid_t b = Contender("crash", "host-b", {"--hold-ms", "100"});
  pid_t c = Contender("crash", "host-c", {"--hold-ms", "100"});
  // Both have asked for the slot and found it taken by the dead holder.
  ASSERT_TRUE(WaitForLine("wait host-b"));
  ASSERT_TRUE(WaitForLine("wait host-c"));
  EXPECT_EQ(Holders("crash"), std::vector<std::string>{"host-a"});
  EXPECT_FALSE(WaitForLine("acquire host-b", 0s));
  EXPECT_FALSE(WaitForLine("acquire host-c", 0s));

  // The same machine comes back: it finds the slot already its own, finishes, releases.
  pid_t a2 = Contender("crash", "host-a", {"--hold-ms", "100"});
  EXPECT_EQ(Wait(a2), 0);
  EXPECT_EQ(Wait(b), 0);
  EXPECT_EQ(Wait(c), 0);
  auto lines = LogLines();
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(lines[0], "acquire host-a");
  EXPECT_EQ(lines[1], "resume host-a");
  EXPECT_EQ(lines[2], "acquire host-a") << "re-entered without waiting";
  EXPECT_EQ(lines[3], "release host-a");
  ExpectAlternating(std::vector<std::string>(lines.begin() + 2, lines.end()));
  EXPECT_TRUE(Holders("crash").empty());
}

TEST_F(FleetLockTest, UnlockFreesAStuckSlot) {
  std::string never = dir_ + "/never";
  pid_t a = Contender("stuck", "host-a", {"--hold-until", never});
  ASSERT_TRUE(WaitForLine("acquire host-a"));
  KillHard(a);  // and never comes back
  pid_t b = Contender("stuck", "host-b", {"--hold-ms", "100"});
  ASSERT_TRUE(WaitForLine("wait host-b"));  // it asked and found the slot taken
  EXPECT_FALSE(WaitForLine("acquire host-b", 0s));

  std::string common = " --endpoints " + etcd_->endpoint() + " --group stuck --json";
  auto [rc, out] = Basalt("lock status" + common);
  ASSERT_EQ(rc, 0) << out;
  auto st = nlohmann::json::parse(out);
  EXPECT_EQ(st["max"], 1);
  ASSERT_EQ(st["holders"].size(), 1u);
  EXPECT_EQ(st["holders"][0]["machine_id"], "host-a");
  EXPECT_GT(st["holders"][0]["lease_ttl_seconds"].get<int64_t>(), 0);

  auto [rc2, out2] = Basalt("lock unlock host-nobody" + common);
  EXPECT_EQ(rc2, 6) << "unlocking a non-holder is 'not found'";
  auto [rc3, out3] = Basalt("lock unlock host-a" + common);
  ASSERT_EQ(rc3, 0) << out3;
  EXPECT_EQ(nlohmann::json::parse(out3)["unlocked"], "host-a");

  EXPECT_EQ(Wait(b, 20s), 0);
  EXPECT_TRUE(WaitForLine("acquire host-b", 0s));
  EXPECT_TRUE(Holders("stuck").empty());
}

TEST_F(FleetLockTest, LeaseTimeoutReleasesACrashedHolder) {
  std::string never = dir_ + "/never";
  pid_t a = Contender("lease", "host-a", {"--hold-until", never, "--ttl", "3"});
  ASSERT_TRUE(WaitForLine("acquire host-a"));
  KillHard(a);
  auto start = std::chrono::steady_clock::now();
  pid_t b = Contender("lease", "host-b", {"--hold-ms", "100", "--ttl", "3"});
  EXPECT_EQ(Wait(b, 30s), 0);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 1s) << "host-b must wait for the lease to run out";
  auto lines = LogLines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], "acquire host-b");
}

TEST_F(FleetLockTest, SetMaxAllowsMoreHoldersAndTheWaitReasonNamesThem) {
  auto c = Client();
  RebootLock lock(*c, "wide", 1, 60s);
  auto a = lock.Acquire("host-a");
  ASSERT_TRUE(a.has_value()) << a.error().message();
  EXPECT_TRUE(a->held);
  auto b = lock.Acquire("host-b");
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(b->held);
  EXPECT_EQ(DescribeFullGroup(b->state), "etcd reboot lock group wide is full: 1/1 held by host-a");

  auto [rc, out] = Basalt("lock set-max 2 --endpoints " + etcd_->endpoint() + " --group wide");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "group wide: max holders 1 -> 2\n");
  b = lock.Acquire("host-b");
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->held);
  auto again = lock.Acquire("host-a");
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->held);
  EXPECT_TRUE(again->reentered);
  auto c3 = lock.Acquire("host-c");
  ASSERT_TRUE(c3.has_value());
  EXPECT_FALSE(c3->held);
  EXPECT_EQ(c3->state.holders.size(), 2u);

  EXPECT_EQ(lock.Release("host-a").value_or(false), true);
  EXPECT_EQ(lock.Release("host-a").value_or(true), false) << "second release is a no-op";
  EXPECT_TRUE(lock.Acquire("host-c")->held);
}

TEST_F(FleetLockTest, FailsOverToALiveEndpointAndNeverRebootsWhenAllAreDown) {
  testing::DeadEndpoint dead1, dead2, dead3;
  EtcdLockConfig cfg;
  cfg.etcd.endpoints = {dead1.url(), etcd_->endpoint()};
  cfg.etcd.request_timeout_seconds = 2;
  cfg.group = "failover";
  cfg.machine_id = "host-a";
  auto coord = EtcdLockCoordinator::Create(cfg);
  ASSERT_TRUE(coord.has_value()) << coord.error().message();
  auto gate = (*coord)->MayReboot(std::chrono::system_clock::now());
  ASSERT_TRUE(gate.has_value()) << gate.error().message();
  EXPECT_TRUE(gate->reboot_now);
  EXPECT_TRUE((*coord)->KeepAlive().has_value());
  ASSERT_TRUE((*coord)->AfterBoot().has_value());
  ASSERT_TRUE((*coord)->AfterBoot().has_value()) << "idempotent";
  EXPECT_TRUE(Holders("failover").empty());
  EXPECT_EQ((*coord)->KeepAlive().error().kind(), ErrorKind::kNotFound);

  cfg.etcd.endpoints = {dead2.url(), dead3.url()};
  auto down = EtcdLockCoordinator::Create(cfg);
  ASSERT_TRUE(down.has_value());
  auto refused = (*down)->MayReboot(std::chrono::system_clock::now());
  ASSERT_FALSE(refused.has_value()) << "no lock, no reboot";
  EXPECT_EQ(refused.error().kind(), ErrorKind::kIo) << "retryable";
  EXPECT_NE(refused.error().message().find("etcd unreachable (tried 2 endpoints)"),
            std::string::npos)
      << refused.error().message();
}

TEST_F(FleetLockTest, RejectsNamesThatWouldEscapeTheKeySpace) {
  EtcdLockConfig cfg;
  cfg.etcd.endpoints = {etcd_->endpoint()};
  cfg.machine_id = "../other";
  EXPECT_EQ(EtcdLockCoordinator::Create(cfg).error().kind(), ErrorKind::kInvalidInput);
  cfg.machine_id = "ok";
  cfg.group = "a/b";
  EXPECT_EQ(EtcdLockCoordinator::Create(cfg).error().kind(), ErrorKind::kInvalidInput);
}

}  // namespace
}  // namespace basalt::fleet
