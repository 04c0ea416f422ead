// The one subprocess launcher: RunCommand's environment, capture and error rules, and RunFilter,
// a program between two buffers, without deadlocking on large inputs and outputs and without
// letting SIGPIPE or an early exit go unnoticed.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "common/subprocess.h"

namespace basalt {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(RunFilter, PassesLargeInputAndOutputThrough) {
  // Far beyond a pipe's 64 KiB buffer in both directions at once: a program that writes
  // while it reads deadlocks a caller that writes everything before reading.
  std::string in(3 << 20, '\0');
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = static_cast<char>('a' + i * 7 % 26);
  auto out = RunFilter({"/bin/cat"}, Bytes(in), in.size());
  ASSERT_TRUE(out.has_value()) << out.error().message();
  EXPECT_EQ(std::string(out->begin(), out->end()), in);
  auto empty = RunFilter({"/bin/cat"}, {}, 10);
  ASSERT_TRUE(empty.has_value()) << empty.error().message();
  EXPECT_TRUE(empty->empty());
}

TEST(RunFilter, FailuresNameTheProgram) {
  auto expect = [](const Result<std::vector<uint8_t>>& r, const std::string& what) {
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
  };
  expect(RunFilter({"/bin/false"}, Bytes("x"), 10), "/bin/false failed (exit 1)");
  expect(RunFilter({"/nonexistent/tool"}, Bytes("x"), 10), "/nonexistent/tool is not available");
  expect(RunFilter({"cat"}, Bytes("x"), 10), "absolute path");
  expect(RunFilter({"/bin/cat"}, Bytes(std::string(100, 'x')), 99), "/bin/cat wrote more than 99");
  // Exits without reading: the unread input is reported, and SIGPIPE does not kill us.
  expect(RunFilter({"/bin/true"}, Bytes(std::string(1 << 20, 'x')), 10), "/bin/true");
  expect(RunFilter({"/bin/sh", "-c", "kill -9 $$"}, Bytes("x"), 10), "signal 9");
}

TEST(RunCommand, EnvironmentIsTheCallersOrEmptyWithOverridesOnTop) {
  setenv("BASALT_SUBPROCESS_TEST", "inherited", 1);
  Command inherit{"/bin/sh", "-c", "echo \"$BASALT_SUBPROCESS_TEST/$EXTRA\""};
  inherit.env = {{"EXTRA", "set"}};
  auto r = RunCommandOk(inherit);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(*r, "inherited/set\n");

  Command empty{"/bin/sh", "-c", "echo \"$BASALT_SUBPROCESS_TEST/$EXTRA\"; env | wc -l"};
  empty.base_env = Command::BaseEnv::kEmpty;
  empty.env = {{"EXTRA", "only"}};
  r = RunCommandOk(empty);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  // sh itself adds PWD (and some shells SHLVL and _): nothing of the caller's comes through.
  EXPECT_TRUE(r->starts_with("/only\n")) << *r;
  unsetenv("BASALT_SUBPROCESS_TEST");
}

TEST(RunCommand, CapturesStdoutAndStderrApartOrMerged) {
  Command c{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"};
  auto r = RunCommand(c);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->signal, 0);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->Ending(), "exit 3");
  c.stderr_mode = Command::Stderr::kMerge;
  r = RunCommand(c);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->out, "out\nerr\n");
  EXPECT_EQ(r->err, "");
  c.stderr_mode = Command::Stderr::kDiscard;
  r = RunCommand(c);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "");
}

TEST(RunCommand, FailuresNameTheProgramAndHowItEnded) {
  // The last lines of stderr, on one line.
  auto r = RunCommandOk({"/bin/sh", "-c", "echo banner; echo first >&2; echo second >&2; exit 2"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind(), ErrorKind::kIo);
  EXPECT_EQ(r.error().message(), "/bin/sh -c failed (exit 2): first; second");
  // Nothing on stderr: stdout says why.
  r = RunCommandOk({"/bin/sh", "-c", "echo only-stdout; exit 1"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "/bin/sh -c failed (exit 1): only-stdout");
  r = RunCommandOk({"/bin/sh", "-c", "kill -TERM $$"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "/bin/sh -c failed (signal 15)");
  auto missing = RunCommandOk({"basalt-no-such-tool"});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);
  EXPECT_NE(missing.error().message().find("basalt-no-such-tool not found in PATH"),
            std::string::npos)
      << missing.error().message();
}

TEST(RunCommand, InputStallAndOutputLimits) {
  Command cat{"/bin/cat"};
  const std::string text = "through stdin";
  cat.input = Bytes(text);
  auto r = RunCommandOk(cat);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(*r, text);
  Command yes{"/usr/bin/yes"};
  yes.max_output = 1000;
  auto flood = RunCommand(yes);
  ASSERT_FALSE(flood.has_value());
  EXPECT_NE(flood.error().message().find("wrote more than 1000 bytes"), std::string::npos);
  Command sleeper{"/bin/sleep", "30"};
  sleeper.stall_timeout = std::chrono::milliseconds(200);
  auto stalled = RunCommand(sleeper);
  ASSERT_FALSE(stalled.has_value());
  EXPECT_NE(stalled.error().message().find("made no progress"), std::string::npos);
}

TEST(FindProgram, PathsAreKeptAndNamesSearched) {
  EXPECT_EQ(FindProgram("/bin/true").value(), "/bin/true");
  auto sh = FindProgram("sh");
  ASSERT_TRUE(sh.has_value());
  EXPECT_TRUE(sh->ends_with("/sh")) << *sh;
}

}  // namespace
}  // namespace basalt

namespace basalt {
namespace {

// The daemon blocks SIGTERM for its event loop and `basalt` blocks the termination signals for
// its cleanup thread: a tool started from either must see none blocked or ignored, or it could
// never be stopped.
TEST(RunCommand, ChildrenInheritNoBlockedOrIgnoredSignals) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  struct sigaction ign = {}, old_hup = {};
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGHUP, &ign, &old_hup), 0);
  auto r = RunCommandOk(Command{"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"});
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  ASSERT_TRUE(r) << r.error().message();
  // Standard signals 1-31 only: bits 32 and up are glibc's internal real-time signals, which
  // posix_spawn leaves as glibc set them.
  auto standard = [&](const std::string& field) {
    size_t at = r->find(field + ":\t");
    EXPECT_NE(at, std::string::npos) << *r;
    return std::stoull(r->substr(at + field.size() + 2, 16), nullptr, 16) & 0x7fffffffULL;
  };
  EXPECT_EQ(standard("SigBlk"), 0u) << *r;
  EXPECT_EQ(standard("SigIgn"), 0u) << *r;
}

}  // namespace
}  // namespace basalt
