// SIGTERM or SIGINT in the middle of `basalt image build` or `basalt release publish` leaves no
// work directory and no running tool behind, and the command dies of the signal (issue #21).
// The work is made long enough to be caught in progress with a large incompressible file.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "image_test_util.h"

namespace basalt::image::testing {
namespace {

namespace fs = std::filesystem;

// Starts argv with stdout/stderr to `log`; returns the pid.
pid_t Start(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    if (f != nullptr) {
      ::dup2(fileno(f), 1);
      ::dup2(fileno(f), 2);
    }
    std::vector<char*> argv;
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

bool AnyEntryStartingWith(const fs::path& dir, const std::string& prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// Processes whose command line mentions `needle` (the test's unique temp path).
int ProcessesMentioning(const std::string& needle) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd.find(needle) != std::string::npos) ++n;
  }
  return n;
}

void WriteRandom(const fs::path& p, size_t bytes) {
  std::mt19937_64 rng(42);
  std::ofstream out(p, std::ios::binary);
  std::vector<uint64_t> buf(1 << 16);
  for (size_t done = 0; done < bytes; done += buf.size() * 8) {
    for (auto& v : buf)
      v = rng();
    out.write(reinterpret_cast<const char*>(buf.data()), buf.size() * 8);
  }
}

// Waits (bounded) until `ready` holds; false if the process ended first.
bool WaitUntil(pid_t pid, const std::function<bool()>& ready) {
  for (int i = 0; i < 12000; ++i) {  // 120 s at most: TCG-free, but the CI machine is slow
    if (ready()) return true;
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

int WaitStatus(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return st;
}

class TerminationTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: a non-root build re-executes under fakeroot";
    tree_ = dir_.path() + "/tree";
    MakeTestTree(tree_);
    fs::create_directories(tree_ + "/usr/share/big");
    WriteRandom(tree_ + "/usr/share/big/blob", 160u << 20);
  }
  std::vector<std::string> BuildArgs(const std::string& out) {
    return {BasaltBin(), "image",      "build",      "--rootfs",    tree_,
            "--output",  out,          "--usr-size", "512MiB",      "--esp-size",
            "64MiB",     "--oem-size", "8MiB",       "--root-size", "32MiB",
            "--version", "1.0",        "--seed",     "t",           "--source-date-epoch",
            "1700000000"};
  }
  TempDir dir_;
  std::string tree_;
};

TEST_P(TerminationTest, ImageBuildLeavesNoWorkDirectory) {
  const int sig = GetParam();
  const std::string out = dir_.path() + "/out";
  pid_t pid = Start(BuildArgs(out), dir_.path() + "/build.log");
  // Caught in progress: the work directory exists and holds the staged tree.
  ASSERT_TRUE(WaitUntil(pid, [&] { return AnyEntryStartingWith(dir_.path(), ".out.basalt-"); }))
      << "the build ended before it could be interrupted";
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_EQ(::kill(pid, sig), 0);
  int st = WaitStatus(pid);
  ASSERT_TRUE(WIFSIGNALED(st)) << "exit status " << st;
  EXPECT_EQ(WTERMSIG(st), sig);
  EXPECT_FALSE(AnyEntryStartingWith(dir_.path(), ".out.basalt-"));
  EXPECT_FALSE(fs::exists(out));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(ProcessesMentioning(dir_.path()), 0) << "a tool of the build is still running";
}

TEST_P(TerminationTest, PublishLeavesNoStagingDirectory) {
  const int sig = GetParam();
  const std::string img = dir_.path() + "/img";
  auto built = Sh([&] {
    std::string cmd;
    for (const auto& a : BuildArgs(img))
      cmd += Quote(a) + " ";
    return cmd;
  }());
  ASSERT_EQ(built.status, 0) << built.output;
  auto keys =
      Sh(BasaltBin() + " keys generate --output " + Quote(dir_.path() + "/keys") + " --json");
  ASSERT_EQ(keys.status, 0) << keys.output;
  std::string key;
  for (const auto& e : fs::directory_iterator(dir_.path() + "/keys")) {
    std::string name = e.path().filename().string();
    if (name.size() > 4 && name.find(".pub.pem") == std::string::npos) key = e.path().string();
  }
  ASSERT_FALSE(key.empty());
  const std::string repo = dir_.path() + "/repo";
  pid_t pid =
      Start({BasaltBin(), "release", "publish", "--repo", repo, "--image-dir", img, "--key", key},
            dir_.path() + "/publish.log");
  ASSERT_TRUE(WaitUntil(pid, [&] { return AnyEntryStartingWith(repo + "/releases", ".staging-"); }))
      << "the publish ended before it could be interrupted";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(pid, sig), 0);
  int st = WaitStatus(pid);
  ASSERT_TRUE(WIFSIGNALED(st)) << "exit status " << st;
  EXPECT_EQ(WTERMSIG(st), sig);
  EXPECT_FALSE(AnyEntryStartingWith(repo + "/releases", ".staging-"));
  EXPECT_FALSE(fs::exists(repo + "/releases/1.0"));
}

INSTANTIATE_TEST_SUITE_P(Signals, TerminationTest, ::testing::Values(SIGTERM, SIGINT),
                         [](const auto& info) {
                           return info.param == SIGTERM ? "SIGTERM" : "SIGINT";
                         });

}  // namespace
}  // namespace basalt::image::testing
