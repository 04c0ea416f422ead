// RunFilter: a program between two buffers, without deadlocking on large inputs and outputs
// and without letting SIGPIPE or an early exit go unnoticed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "common/filter_process.h"

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

}  // namespace
}  // namespace basalt
