// The shared grammars operators type: versions (common/version.h), durations and times
// (common/time_util.h). Expectations are written from systemd.time(7), RFC 3339 and semver.
#include <gtest/gtest.h>

#include "common/time_util.h"
#include "common/version.h"

namespace basalt {
namespace {

using std::chrono::seconds;

TEST(VersionGrammar, AcceptsNumericCoresWithPrereleaseAndBuild) {
  for (const char* v : {"7", "2.0", "1.2.0", "4081.2.0", "2026.01.05", "1.2.0-rc1", "1.2.0-rc.1",
                        "1.2.0-beta-2", "1.2.0+build5", "1.2.0-rc1+git.abc"}) {
    EXPECT_TRUE(CheckVersion(v, "v").has_value()) << v;
  }
}

TEST(VersionGrammar, RefusesWhatWouldSortAsText) {
  struct Case {
    const char* version;
    const char* says;
  };
  const Case cases[] = {
      {"v1.2.0", "must start with a digit"},
      {"latest", "must start with a digit"},
      {"", "1-64 characters"},
      {"1.2.x", "dot-separated numbers"},
      {"1..2", "dot-separated numbers"},
      {"1.2.", "dot-separated numbers"},
      {"1_2", "dot-separated numbers"},
      {"1.0/x", "dot-separated numbers"},
      {"1.2.0-", "prerelease"},
      {"1.2.0-rc..1", "prerelease"},
      {"1.2.0+", "build metadata"},
      {"1.2.0+a/b", "build metadata"},
      {"1.2.3.4.5.6.7.8.9", "more than 8 numbers"},
      {"1234567890123456789", "1-18 digits"},
  };
  for (const Case& c : cases) {
    auto r = CheckVersion(c.version, "--version");
    ASSERT_FALSE(r.has_value()) << c.version;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().rfind("--version: ", 0), 0u) << r.error().message();
  }
}

TEST(VersionGrammar, Orders) {
  EXPECT_LT(CompareVersions("1.9.0", "1.10.0"), 0);
  EXPECT_LT(CompareVersions("3510.2.8", "3602.2.0"), 0);
  EXPECT_EQ(CompareVersions("1.2", "1.2.0"), 0);
  EXPECT_EQ(CompareVersions("2026.01.05", "2026.1.5"), 0);
  EXPECT_LT(CompareVersions("1.2.0-rc1", "1.2.0"), 0);
  EXPECT_LT(CompareVersions("1.2.0-rc.2", "1.2.0-rc.10"), 0);
  EXPECT_LT(CompareVersions("1.2.0-alpha", "1.2.0-alpha.1"), 0);
  EXPECT_LT(CompareVersions("1.2.0-1", "1.2.0-alpha"), 0);
  EXPECT_EQ(CompareVersions("1.2.0+build5", "1.2.0+build6"), 0);
  EXPECT_GT(CompareVersions("2.0.0", "1.99.99"), 0);
}

TEST(DurationGrammar, AcceptsSystemdSpans) {
  struct Case {
    const char* text;
    int64_t seconds;
  };
  const Case cases[] = {
      {"90", 90},         {"30s", 30},      {"15m", 900},        {"90min", 5400},
      {"1h 30min", 5400}, {"1h30m", 5400},  {"1.5h", 5400},      {"2 days", 172800},
      {"7d", 604800},     {"1w", 604800},   {"2weeks", 1209600}, {"1d12h", 129600},
      {" 6 h ", 21600},   {"1M", 2629800},  {"1y", 31557600},    {"3 hours 5 sec", 10805},
      {"0", 0},           {"1 minute", 60}, {"2hr", 7200},       {"0.5s", 0},
  };
  for (const Case& c : cases) {
    auto d = ParseDuration(c.text, "--duration");
    ASSERT_TRUE(d.has_value()) << c.text << ": " << d.error().message();
    EXPECT_EQ(*d, seconds(c.seconds)) << c.text;
  }
}

TEST(DurationGrammar, RefusesOneLineNamingTheOption) {
  for (const char* text : {"", "  ", "h", "1x", "-5", "1h -5m", "1.h", "5 5", "1e3", "1H", "101y",
                           "99999999999999999999", "1 h 30", "1h\n"}) {
    auto d = ParseDuration(text, "--duration");
    ASSERT_FALSE(d.has_value()) << '"' << text << '"';
    EXPECT_EQ(d.error().message().rfind("--duration: ", 0), 0u) << d.error().message();
    EXPECT_EQ(d.error().message().find('\n'), std::string::npos) << d.error().message();
  }
}

TEST(TimeInput, AcceptsNowZuluAndOffsets) {
  const TimePoint now = *ParseTime("2026-12-07T10:00:00Z", "t");
  EXPECT_EQ(*ParseTimeInput("now", "--start", now), now);
  EXPECT_EQ(*ParseTimeInput("2026-11-22T05:00:00Z", "--start", now),
            *ParseTime("2026-11-22T05:00:00Z", "t"));
  EXPECT_EQ(*ParseTimeInput("2026-11-22T07:00:00+02:00", "--start", now),
            *ParseTime("2026-11-22T05:00:00Z", "t"));
  EXPECT_EQ(*ParseTimeInput("2026-11-22 00:30:00-04:30", "--start", now),
            *ParseTime("2026-11-22T05:00:00Z", "t"));
  EXPECT_EQ(*ParseTimeInput("2026-11-22t05:00:00.75z", "--start", now),
            *ParseTime("2026-11-22T05:00:00Z", "t"));
}

TEST(TimeInput, RefusesLocalTimesWithoutOffset) {
  const TimePoint now = *ParseTime("2026-12-07T10:00:00Z", "t");
  for (const char* text :
       {"2026-11-22T05:00:00", "2026-11-22T05:00:00+2", "2026-11-22T05:00:00+24:00",
        "2026-13-22T05:00:00Z", "2026-11-22T05:00:00.Z", "tomorrow", ""}) {
    auto t = ParseTimeInput(text, "--start", now);
    ASSERT_FALSE(t.has_value()) << text;
    EXPECT_EQ(t.error().message().rfind("--start: ", 0), 0u) << t.error().message();
  }
}

}  // namespace
}  // namespace basalt
