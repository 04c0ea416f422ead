// `basalt rollout guard`'s parts without a server: the Prometheus answer parser against canned
// (and hostile) answers, the policy reader, the fleet sample, and the decision as a table.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "guard/fleet_sample.h"
#include "guard/guard_decision.h"
#include "guard/guard_policy.h"
#include "guard/guard_state.h"
#include "guard/prometheus_query.h"

namespace basalt::guard {
namespace {

using namespace std::chrono_literals;

// --- Prometheus answers ----------------------------------------------------------------------

TEST(PrometheusAnswer, VectorWithLabelsAndGoFloatValues) {
  auto r = ParseVectorAnswer(R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"current_version":"2.0"},"value":[1700000000.123,"2"]},
      {"metric":{"current_version":"1.0"},"value":[1700000000.123,"1e+00"]},
      {"metric":{},"value":[1700000000,"NaN"]},
      {"metric":{},"value":[1700000000,"+Inf"]}]},"warnings":["slow"]})");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].labels.at("current_version"), "2.0");
  EXPECT_EQ((*r)[0].value, 2);
  EXPECT_EQ((*r)[1].value, 1);
  EXPECT_TRUE(std::isnan((*r)[2].value));
  EXPECT_TRUE(std::isinf((*r)[3].value));
  auto empty =
      ParseVectorAnswer(R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(PrometheusAnswer, HostileOrWrongAnswersAreOneLineErrorsNamingTheField) {
  struct Case {
    const char* body;
    const char* says;
  };
  const Case cases[] = {
      {"", "answer"},
      {"[]", "answer"},
      {R"({"status":"error","errorType":"bad_data","error":"parse error at char 3"})",
       "bad_data: parse error at char 3"},
      {R"({"status":"maybe","data":{}})", "neither success nor error"},
      {R"({"status":"success","data":{"resultType":"matrix","result":[]}})", "expected \"vector\""},
      {R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}})",
       "data.result[0].metric.a: expected a string"},
      {R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,1]}]}})",
       "data.result[0].value"},
      {R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1x"]}]}})",
       "is not a number"},
      {R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"inf"]}]}})",
       "is not a number"},
      {R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"],"x":1}]}})",
       "x"},
      {R"({"status":"success","data":{"resultType":"vector","result":[]},"extra":1})", "extra"},
  };
  for (const auto& c : cases) {
    auto r = ParseVectorAnswer(c.body);
    ASSERT_FALSE(r.has_value()) << c.body;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos)
        << c.body << " -> " << r.error().message();
    EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
  }
  std::string huge(kMaxPrometheusAnswer + 1, ' ');
  auto r = ParseVectorAnswer(huge);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("limit"), std::string::npos);
}

TEST(PrometheusAnswer, QueryUrlEncodesAndPromQuoteEscapes) {
  EXPECT_EQ(QueryUrl("http://127.0.0.1:9090/", "count(up{a=\"b c\"})"),
            "http://127.0.0.1:9090/api/v1/query?query=count%28up%7Ba%3D%22b%20c%22%7D%29");
  EXPECT_EQ(PromQuote("a\"b\\c"), R"("a\"b\\c")");
}

// --- Policy ----------------------------------------------------------------------------------

TEST(GuardPolicyFile, ReadsEveryFieldAndRefusesMistakes) {
  auto p = ParseGuardPolicy(R"({"steps":[1,10,50,100],"soak":"1h","min_hosts":3,
      "max_bad_percent":5,"max_percent_of_old":200})");
  ASSERT_TRUE(p.has_value()) << p.error().message();
  EXPECT_EQ(p->steps, (std::vector<uint32_t>{1, 10, 50, 100}));
  EXPECT_EQ(p->soak, 1h);
  EXPECT_EQ(p->min_hosts, 3u);
  EXPECT_EQ(p->max_bad_percent, 5u);
  EXPECT_EQ(p->max_percent_of_old, 200u);
  struct Case {
    const char* text;
    const char* says;
  };
  const Case bad[] = {
      {R"({"steps":[10,5],"soak":"1h","min_hosts":1,"max_bad_percent":5})", "does not increase"},
      {R"({"steps":[0],"soak":"1h","min_hosts":1,"max_bad_percent":5})", "steps[0]"},
      {R"({"steps":[101],"soak":"1h","min_hosts":1,"max_bad_percent":5})", "steps[0]"},
      {R"({"steps":[],"soak":"1h","min_hosts":1,"max_bad_percent":5})", "steps"},
      {R"({"steps":[1],"soak":"1h","min_hosts":0,"max_bad_percent":5})", "min_hosts"},
      {R"({"steps":[1],"soak":"1h","min_hosts":1,"max_bad_percent":101})", "max_bad_percent"},
      {R"({"steps":[1],"soak":"soon","min_hosts":1,"max_bad_percent":5})", "soak"},
      {R"({"steps":[1],"soak":"1h","min_hosts":1,"max_bad_percent":5,"max_percent_of_old":50})",
       "max_percent_of_old"},
      {R"({"steps":[1],"soak":"1h","min_hosts":1,"max_bad_percent":5,"max_bad_pct":5})",
       "max_bad_pct"},
      {R"({"steps":[1],"soak":"1h","min_hosts":1})", "max_bad_percent"},
  };
  for (const auto& c : bad) {
    auto r = ParseGuardPolicy(c.text);
    ASSERT_FALSE(r.has_value()) << c.text;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
  }
}

// --- Fleet sample ----------------------------------------------------------------------------

PromSample S(std::string label, std::string value, double v) {
  return {.labels = {{std::move(label), std::move(value)}}, .value = v};
}

TEST(FleetSampleFromAnswers, SplitsTheNewReleaseFromTheOthers) {
  auto s = SampleFromAnswers("2.0",
                             {S("current_version", "2.0", 4), S("current_version", "1.0", 5),
                              S("current_version", "0.9", 1)},
                             {S("release", "2.0", 2), S("release", "1.0", 1)},
                             {PromSample{.labels = {}, .value = 1}});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->new_hosts, 4);
  EXPECT_EQ(s->old_hosts, 6);
  EXPECT_EQ(s->new_rollbacks, 2);
  EXPECT_EQ(s->old_rollbacks, 1);
  EXPECT_EQ(s->new_failing, 1);
  EXPECT_FALSE(SampleFromAnswers("2.0", {S("version", "2.0", 1)}, {}, {}).has_value());
  EXPECT_FALSE(SampleFromAnswers("2.0", {}, {}, {PromSample{}, PromSample{}}).has_value());
  auto q = QueriesFor("st\"able", "2.0");
  EXPECT_EQ(q.hosts_by_version,
            R"(count by (current_version) (basalt_update_info{channel="st\"able"}))");
  EXPECT_NE(q.new_failing.find(R"(basalt_update_attempt_info{release="2.0"})"), std::string::npos);
}

// --- Decision --------------------------------------------------------------------------------

TimePoint T(int64_t s) {
  return TimePoint(std::chrono::seconds(1'800'000'000 + s));
}

repo::Channel Ch(std::optional<uint32_t> limit, bool paused = false, bool rollout = true) {
  repo::Channel c;
  c.name = "stable";
  c.release = "2.0";
  c.paused = paused;
  if (rollout)
    c.rollout = repo::Rollout{.start = T(-86400), .duration = 0s, .limit_percent = limit};
  return c;
}

GuardPolicy Policy() {
  GuardPolicy p;
  p.steps = {1, 10, 50, 100};
  p.soak = 3600s;
  p.min_hosts = 2;
  p.max_bad_percent = 20;
  p.max_percent_of_old = 200;
  return p;
}

struct DecisionCase {
  const char* name;
  repo::Channel channel;
  FleetSample sample;
  int64_t step_age;  // seconds since the step started
  GuardAction action;
  const char* code;
  std::optional<uint32_t> widen_to = {};
};

TEST(GuardDecisionTable, Table) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const DecisionCase cases[] = {
      {"one of three rolled back",
       Ch(10),
       {.new_hosts = 1, .new_rollbacks = 1, .old_hosts = 2},
       7200,
       GuardAction::kPause,
       "bad-rate"},
      {"failing installs count as bad",
       Ch(10),
       {.new_hosts = 2, .new_failing = 1, .old_hosts = 5},
       7200,
       GuardAction::kPause,
       "bad-rate"},
      {"pauses even mid-soak",
       Ch(10),
       {.new_hosts = 1, .new_rollbacks = 1},
       0,
       GuardAction::kPause,
       "bad-rate"},
      {"healthy and soaked widens one step",
       Ch(10),
       {.new_hosts = 5, .old_hosts = 40},
       3600,
       GuardAction::kWiden,
       "healthy",
       50},
      {"healthy from 1%", Ch(1), {.new_hosts = 2}, 4000, GuardAction::kWiden, "healthy", 10},
      {"between steps goes to the next one up",
       Ch(30),
       {.new_hosts = 9},
       4000,
       GuardAction::kWiden,
       "healthy",
       50},
      {"under the bad limit still widens",
       Ch(10),
       {.new_hosts = 9, .new_rollbacks = 1, .old_hosts = 90, .old_rollbacks = 9},
       4000,
       GuardAction::kWiden,
       "healthy",
       50},
      {"worse than old (relative)",
       Ch(10),
       {.new_hosts = 17, .new_rollbacks = 3, .old_hosts = 100, .old_rollbacks = 5},
       4000,
       GuardAction::kPause,
       "worse-than-old"},
      {"old rate 0: relative rule silent, absolute under limit widens",
       Ch(10),
       {.new_hosts = 9, .new_rollbacks = 1, .old_hosts = 100},
       4000,
       GuardAction::kWiden,
       "healthy",
       50},
      {"not soaked yet", Ch(10), {.new_hosts = 5}, 3599, GuardAction::kNone, "soaking"},
      {"step start in the future (clock skew) is soaking",
       Ch(10),
       {.new_hosts = 5},
       -100,
       GuardAction::kNone,
       "soaking"},
      {"zero hosts on the new release never widens",
       Ch(10),
       {.old_hosts = 100},
       99999,
       GuardAction::kNone,
       "too-few-hosts"},
      {"one host is below min_hosts",
       Ch(10),
       {.new_hosts = 1},
       99999,
       GuardAction::kNone,
       "too-few-hosts"},
      {"paused channel is left alone",
       Ch(10, true),
       {.new_hosts = 5},
       99999,
       GuardAction::kNone,
       "paused"},
      {"paused channel is not paused again",
       Ch(10, true),
       {.new_hosts = 1, .new_rollbacks = 5},
       99999,
       GuardAction::kNone,
       "paused"},
      {"never past the last step",
       Ch(100),
       {.new_hosts = 50},
       99999,
       GuardAction::kNone,
       "at-last-step"},
      {"limit beyond the policy",
       Ch(100),
       {.new_hosts = 50},
       99999,
       GuardAction::kNone,
       "at-last-step"},
      {"time wave without a limit is not stepped",
       Ch(std::nullopt),
       {.new_hosts = 50},
       99999,
       GuardAction::kNone,
       "not-a-step-rollout"},
      {"no rollout: everyone has it",
       Ch(std::nullopt, false, false),
       {.new_hosts = 50},
       99999,
       GuardAction::kNone,
       "no-rollout"},
      {"NaN hosts", Ch(10), {.new_hosts = nan}, 99999, GuardAction::kNone, "invalid-sample"},
      {"NaN rollbacks do not hide a failure as health",
       Ch(10),
       {.new_hosts = 5, .new_rollbacks = nan},
       99999,
       GuardAction::kNone,
       "invalid-sample"},
      {"negative",
       Ch(10),
       {.new_hosts = 5, .new_rollbacks = -3},
       99999,
       GuardAction::kNone,
       "invalid-sample"},
      {"infinite", Ch(10), {.new_hosts = inf}, 99999, GuardAction::kNone, "invalid-sample"},
      {"huge", Ch(10), {.new_hosts = 1e15}, 99999, GuardAction::kNone, "invalid-sample"},
      {"fractional", Ch(10), {.new_hosts = 2.5}, 99999, GuardAction::kNone, "invalid-sample"},
  };
  for (const auto& c : cases) {
    auto d = DecideGuard(Policy(), c.channel, c.sample, T(-c.step_age), T(0));
    EXPECT_EQ(d.action, c.action) << c.name << ": " << d.sentence;
    EXPECT_EQ(d.code, c.code) << c.name << ": " << d.sentence;
    EXPECT_EQ(d.widen_to, c.widen_to) << c.name;
    EXPECT_FALSE(d.sentence.empty()) << c.name;
  }
}

TEST(GuardDecisionTable, SentenceSaysWhy) {
  auto d = DecideGuard(Policy(), Ch(10), {.new_hosts = 1, .new_rollbacks = 1, .old_hosts = 2}, T(0),
                       T(0));
  EXPECT_EQ(d.sentence,
            "1 of 2 hosts that tried release 2.0 rolled back (1) or failed to install it (0): "
            "50.0%, above the policy's 20%");
}

// --- Step record -----------------------------------------------------------------------------

TEST(GuardStateRecord, KeptForTheSameStepRestartedOtherwiseAndRoundTrips) {
  GuardState saved{
      .channel = "stable", .release = "2.0", .limit_percent = 10, .step_started = T(-500)};
  EXPECT_EQ(CurrentStepRecord(saved, Ch(10), T(0)).step_started, T(-500));
  EXPECT_EQ(CurrentStepRecord(saved, Ch(50), T(0)).step_started, T(0));  // moved by hand
  auto other = Ch(10);
  other.release = "2.1";
  EXPECT_EQ(CurrentStepRecord(saved, other, T(0)).step_started, T(0));
  EXPECT_EQ(CurrentStepRecord(std::nullopt, Ch(10), T(0)).step_started, T(0));
  auto back = ParseGuardState(SerializeGuardState(saved));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, saved);
  EXPECT_FALSE(ParseGuardState(R"({"channel":"a","release":"b","step_started":"x"})").has_value());
  EXPECT_EQ(DefaultGuardStatePath("/srv/repo/", "stable"), "/srv/repo.guard-stable.json");
}

}  // namespace
}  // namespace basalt::guard
