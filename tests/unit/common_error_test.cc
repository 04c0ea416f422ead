#include <gtest/gtest.h>

#include <cerrno>
#include <stdexcept>

#include "common/error.h"
#include "common/hex.h"
#include "common/kernel_cmdline.h"
#include "common/run_catching.h"

namespace basalt {
namespace {

Result<int> ParsePositive(int v) {
  if (v <= 0) return Failf(ErrorKind::kInvalidInput, "value {} is not positive", v);
  return v;
}

Result<int> Doubled(int v) {
  BASALT_ASSIGN_OR_RETURN(int x, ParsePositive(v));
  return 2 * x;
}

TEST(ErrorTest, ContextIsPrependedOutermostFirst) {
  Error e = Error::FromErrno(ENOSPC, "write /dev/vda4").WithContext("operation 17");
  EXPECT_EQ(e.message(), "operation 17: write /dev/vda4: No space left on device");
  EXPECT_EQ(e.sys_errno(), ENOSPC);
  EXPECT_EQ(e.kind(), ErrorKind::kIo);
}

TEST(ErrorTest, EnoentIsNotFound) {
  EXPECT_EQ(Error::FromErrno(ENOENT, "open x").kind(), ErrorKind::kNotFound);
}

TEST(ErrorTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Doubled(4), 8);
  auto r = Doubled(-1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "value -1 is not positive");
}

TEST(HexTest, RoundTripAndErrors) {
  std::vector<uint8_t> bytes = {0x00, 0xab, 0xff, 0x10};
  EXPECT_EQ(ToHex(bytes), "00abff10");
  EXPECT_EQ(*FromHex("00ABff10"), bytes);
  EXPECT_FALSE(FromHex("abc"));
  auto bad = FromHex("0g");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("position 1"), std::string::npos);
  EXPECT_TRUE(FromHex("")->empty());
}

// A thread body's exception becomes an Error naming the thread's job; values and errors pass.
TEST(RunCatching, ExceptionsBecomeErrorsAndResultsPassThrough) {
  Status thrown = RunCatching("hash thread", [] { throw std::runtime_error("out of cheese"); });
  ASSERT_FALSE(thrown.has_value());
  EXPECT_EQ(thrown.error().kind(), ErrorKind::kInternal);
  EXPECT_EQ(thrown.error().message(), "hash thread: out of cheese");
  Result<int> value = RunCatching("worker", []() -> Result<int> { return 7; });
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(*value, 7);
  Result<int> failed =
      RunCatching("worker", []() -> Result<int> { return Fail(ErrorKind::kIo, "disk gone"); });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().message(), "disk gone");
  Status odd = RunCatching("worker", [] { throw 42; });
  ASSERT_FALSE(odd.has_value());
  EXPECT_EQ(odd.error().message(), "worker: unknown exception");
}

// What a release may put on its slots' command line: refused with the rule it breaks.
TEST(ImageKernelArgs, ReservedKeysQuotesAndSpacingAreRefused) {
  EXPECT_TRUE(CheckImageKernelArgs("", "cmdline").has_value());
  EXPECT_TRUE(CheckImageKernelArgs("console=ttyS0 apparmor=1 quiet", "cmdline").has_value());
  for (const char* bad :
       {"basalt.usrhash=ab", "quiet mount.usr=/dev/sda", "usrhash=00", "basalt.usr=PARTLABEL=USR-A",
        "basalt.slot=A", "BOOT_IMAGE=/x", "initrd=/i"}) {
    auto s = CheckImageKernelArgs(bad, "kernel.cmdline");
    ASSERT_FALSE(s.has_value()) << bad;
    EXPECT_NE(s.error().message().find("is set by each boot entry"), std::string::npos)
        << s.error().message();
  }
  auto quote = CheckImageKernelArgs("init=\"/bin/sh\"", "kernel.cmdline");
  ASSERT_FALSE(quote.has_value());
  EXPECT_NE(quote.error().message().find("a character a boot entry cannot carry"),
            std::string::npos);
  auto tab = CheckImageKernelArgs("quiet\tsplash", "kernel.cmdline");
  EXPECT_FALSE(tab.has_value());
  auto spaces = CheckImageKernelArgs("quiet  splash", "kernel.cmdline");
  ASSERT_FALSE(spaces.has_value());
  EXPECT_NE(spaces.error().message().find("single spaces"), std::string::npos);
  EXPECT_FALSE(CheckImageKernelArgs(std::string(1025, 'a'), "kernel.cmdline").has_value());
}

}  // namespace
}  // namespace basalt
