// The main() of every GoogleTest binary (basalt_add_gtest links it instead of gtest_main).
//
// GoogleTest exits 0 when a case calls GTEST_SKIP, so ctest would report a skipped case as
// "Passed" and nobody would read its "[  SKIPPED ]" line. Here a run in which a case was
// skipped and none failed exits kSkipExitCode, which basalt_add_gtest registers as the test's
// SKIP_RETURN_CODE: ctest reports it as skipped. Each skipped case is also named, with the
// reason its GTEST_SKIP gave, on one line of the form
//   BASALT-SKIP <binary> <Suite.Case>: <reason>
// at the end of the output, which build/test.sh collects from ctest's log.
//
// Tests find the build's programs through BASALT_BIN_DIR and the source tree through
// BASALT_SOURCE_DIR. Unless set, they default to this binary's own directory (every program of
// a build is in its bin/) and the tree it was built from, so neither ctest nor a developer
// running a binary by hand has to pass them.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {

constexpr int kSkipExitCode = 77;

// The reason of the first skip recorded in `result`, on one line.
std::string SkipReason(const ::testing::TestResult& result) {
  for (int i = 0; i < result.total_part_count(); ++i) {
    const auto& part = result.GetTestPartResult(i);
    if (!part.skipped()) continue;
    std::string reason = part.message();
    for (char& c : reason) {
      if (c == '\n') c = ' ';
    }
    return reason.empty() ? "(no reason given)" : reason;
  }
  return "(no reason given)";
}

}  // namespace

int main(int argc, char** argv) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) setenv("BASALT_BIN_DIR", self.parent_path().c_str(), /*overwrite=*/0);
  setenv("BASALT_SOURCE_DIR", BASALT_SOURCE_DIR_DEFAULT, /*overwrite=*/0);
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  const auto& unit = *::testing::UnitTest::GetInstance();
  std::vector<std::string> skipped;
  for (int s = 0; s < unit.total_test_suite_count(); ++s) {
    const auto& suite = *unit.GetTestSuite(s);
    for (int t = 0; t < suite.total_test_count(); ++t) {
      const auto& info = *suite.GetTestInfo(t);
      if (!info.should_run() || !info.result()->Skipped()) continue;
      // A skip in SetUpTestSuite is recorded on the suite, not on each case.
      const auto& result =
          info.result()->total_part_count() > 0 ? *info.result() : suite.ad_hoc_test_result();
      skipped.push_back(std::string(suite.name()) + "." + info.name() + ": " + SkipReason(result));
    }
  }
  std::string binary = argc > 0 ? argv[0] : "test";
  binary = binary.substr(binary.find_last_of('/') + 1);
  for (const auto& line : skipped)
    std::printf("BASALT-SKIP %s %s\n", binary.c_str(), line.c_str());
  std::fflush(stdout);
  if (rc != 0) return rc;
  return skipped.empty() ? 0 : kSkipExitCode;
}
