// The generator's bsdiff runner: a bsdiff that cannot run costs a candidate, not the payload,
// and says so once per kind of failure.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bsdiff_runner.h"
#include "common/log.h"
#include "test_util.h"

namespace basalt::payload {
namespace {

class WarningLog : public Logger {
 public:
  void Log(LogLevel level, std::string_view message, const std::vector<LogField>&) override {
    if (level == LogLevel::kWarning) warnings.emplace_back(message);
  }
  std::vector<std::string> warnings;
};

TEST(PayloadBsdiffRunner, FailureIsNoCandidateLoggedOncePerKind) {
  basalt::testing::TempDir t;
  WarningLog log;
  // Its temporary files cannot be written: every call fails the same way.
  BsdiffRunner runner(t / "missing-dir", log);
  const std::vector<uint8_t> old_data(5000, 'a'), new_data(5000, 'b');
  for (size_t slot = 0; slot < 3; ++slot)
    EXPECT_TRUE(runner.Diff(old_data, new_data, slot).empty());
  ASSERT_EQ(log.warnings.size(), 1u);
  EXPECT_NE(log.warnings[0].find("no bsdiff candidates"), std::string::npos) << log.warnings[0];
  EXPECT_NE(log.warnings[0].find("missing-dir"), std::string::npos) << log.warnings[0];
}

TEST(PayloadBsdiffRunner, MakesAPatchWhenBsdiffRuns) {
  if (!basalt::testing::HaveTool("bsdiff")) GTEST_SKIP() << "bsdiff is not installed";
  basalt::testing::TempDir t;
  WarningLog log;
  BsdiffRunner runner(t.path(), log);
  std::vector<uint8_t> old_data(20000), new_data;
  for (size_t i = 0; i < old_data.size(); ++i)
    old_data[i] = static_cast<uint8_t>(i * 7 % 251);
  new_data = old_data;
  new_data[1000] ^= 0xff;
  auto patch = runner.Diff(old_data, new_data, 0);
  ASSERT_GE(patch.size(), 8u);
  EXPECT_EQ(std::string(patch.begin(), patch.begin() + 8), "BSDIFF40");
  EXPECT_TRUE(log.warnings.empty());
}

}  // namespace
}  // namespace basalt::payload
