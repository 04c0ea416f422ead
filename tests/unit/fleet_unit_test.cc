// Unit tests of the fleet pieces that need no server: the Prometheus text the metrics writer
// produces, Omaha request building and response parsing corner cases, and the etcd client's
// wire format and endpoint failover through a scripted fetcher.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>
#include <set>

#include "common/base64.h"
#include "common/fd.h"
#include "fleet/etcd_client.h"
#include "fleet/metrics.h"
#include "fleet_config.h"
#include "omaha_request.h"
#include "omaha_response.h"

namespace basalt::fleet {
namespace {

// --- metrics ---------------------------------------------------------------------------------

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped
  double value = 0;
};

// [a-zA-Z_:][a-zA-Z0-9_:]*, the text format's metric and label name syntax.
bool IsMetricName(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_' || c == ':'; });
}

// A strict reader of the Prometheus text exposition format (the subset we emit): every sample
// belongs to a family announced by HELP then TYPE, label values are quoted with \\ \" \n
// escapes, values are numbers. Returns the samples or fails the test.
std::vector<Sample> ParsePrometheus(const std::string& text) {
  std::vector<Sample> out;
  std::map<std::string, std::string> types;
  std::string pending_help;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "text must end with a newline";
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.starts_with("# HELP ")) {
      std::string rest = line.substr(7);
      pending_help = rest.substr(0, rest.find(' '));
      EXPECT_TRUE(IsMetricName(pending_help)) << line;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      std::istringstream is(line.substr(7));
      std::string name, type;
      is >> name >> type;
      EXPECT_EQ(name, pending_help) << "TYPE must follow its HELP: " << line;
      EXPECT_TRUE(type == "gauge" || type == "counter") << line;
      EXPECT_EQ(types.count(name), 0u) << "family declared twice: " << name;
      types[name] = type;
      continue;
    }
    EXPECT_FALSE(line.empty() || line[0] == '#') << "unexpected line '" << line << "'";
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ')
      ++i;
    s.name = line.substr(0, i);
    EXPECT_TRUE(IsMetricName(s.name)) << line;
    EXPECT_EQ(types.count(s.name), 1u) << "sample before its TYPE: " << line;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        std::string key = line.substr(i, eq - i);
        EXPECT_TRUE(IsMetricName(key)) << line;
        i = eq + 1;
        EXPECT_EQ(line[i], '"') << line;
        ++i;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            ++i;
            char e = line[i];
            EXPECT_TRUE(e == '\\' || e == '"' || e == 'n') << "bad escape in " << line;
            value += e == 'n' ? '\n' : e;
          } else {
            value += line[i];
          }
          ++i;
        }
        ++i;  // closing quote
        s.labels[key] = value;
        if (line[i] == ',') ++i;
      }
      ++i;  // '}'
    }
    EXPECT_EQ(line[i], ' ') << line;
    std::string num = line.substr(i + 1);
    size_t used = 0;
    s.value = std::stod(num, &used);
    EXPECT_EQ(used, num.size()) << "value must be a plain number: " << line;
    out.push_back(s);
  }
  return out;
}

double Value(const std::vector<Sample>& samples, const std::string& name,
             std::map<std::string, std::string> labels = {}) {
  for (const auto& s : samples)
    if (s.name == name && s.labels == labels) return s.value;
  ADD_FAILURE() << "no sample " << name;
  return -1;
}

TEST(FleetMetrics, AfterASuccessfulUpdate) {
  UpdateMetrics m;
  m.state = "updated-need-reboot";
  m.current_version = "4081.2.0";
  m.next_version = "4081.2.1";
  m.channel = "stable";
  m.last_check = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  m.last_success = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000100500));
  m.downloaded_delta_bytes = 1234567;
  m.downloaded_full_bytes = 0;
  auto samples = ParsePrometheus(FormatMetrics(m));
  EXPECT_EQ(Value(samples, "basalt_update_state", {{"state", "updated-need-reboot"}}), 1);
  EXPECT_EQ(Value(samples, "basalt_update_state", {{"state", "idle"}}), 0);
  int ones = 0;
  for (const auto& s : samples)
    ones += s.name == "basalt_update_state" && s.value == 1;
  EXPECT_EQ(ones, 1);
  EXPECT_EQ(
      Value(samples, "basalt_update_info",
            {{"current_version", "4081.2.0"}, {"next_version", "4081.2.1"}, {"channel", "stable"}}),
      1);
  EXPECT_EQ(Value(samples, "basalt_update_last_check_timestamp_seconds"), 1700000000);
  EXPECT_DOUBLE_EQ(Value(samples, "basalt_update_last_success_timestamp_seconds"), 1700000100.5);
  EXPECT_EQ(Value(samples, "basalt_update_downloaded_bytes_total", {{"kind", "delta"}}), 1234567);
  EXPECT_EQ(Value(samples, "basalt_update_downloaded_bytes_total", {{"kind", "full"}}), 0);
  EXPECT_EQ(Value(samples, "basalt_update_rollbacks_total"), 0);
  EXPECT_EQ(Value(samples, "basalt_update_route", {{"route", "delta"}}), 0);
  EXPECT_EQ(Value(samples, "basalt_update_route", {{"route", "full"}}), 0);
}

// The exact text, written by hand: names, label names, order and types are what dashboards,
// alerts and `rollout guard` query, so any change to them must show up here.
TEST(FleetMetrics, ExactTextAfterARollback) {
  UpdateMetrics m;
  m.state = "rolled-back";
  m.current_version = "1.0";
  m.channel = "stable";
  m.failures = {{"integrity", 1}};
  m.rollbacks = 1;
  m.rolled_back_releases = {"2.0"};
  m.route = "delta";
  m.attempted_version = "2.0";
  std::string want;
  want +=
      "# HELP basalt_update_state Current state of basalt-updated: 1 for the state it is in, "
      "0 for the others.\n# TYPE basalt_update_state gauge\n";
  for (const char* s : kKnownStates)
    want += fmt::format("basalt_update_state{{state=\"{}\"}} {}\n", s,
                        std::string_view(s) == "rolled-back" ? 1 : 0);
  want +=
      "# HELP basalt_update_info Always 1; the labels carry the running version, the staged next "
      "version and the channel.\n"
      "# TYPE basalt_update_info gauge\n"
      "basalt_update_info{current_version=\"1.0\",next_version=\"\",channel=\"stable\"} 1\n"
      "# HELP basalt_update_last_check_timestamp_seconds Unix time of the last completed update "
      "check (0: never).\n"
      "# TYPE basalt_update_last_check_timestamp_seconds gauge\n"
      "basalt_update_last_check_timestamp_seconds 0.000\n"
      "# HELP basalt_update_last_success_timestamp_seconds Unix time of the last update staged "
      "successfully (0: never).\n"
      "# TYPE basalt_update_last_success_timestamp_seconds gauge\n"
      "basalt_update_last_success_timestamp_seconds 0.000\n"
      "# HELP basalt_update_downloaded_bytes_total Payload bytes downloaded, by payload kind.\n"
      "# TYPE basalt_update_downloaded_bytes_total counter\n"
      "basalt_update_downloaded_bytes_total{kind=\"delta\"} 0\n"
      "basalt_update_downloaded_bytes_total{kind=\"full\"} 0\n"
      "# HELP basalt_update_failures_total Failed update attempts, by reason.\n"
      "# TYPE basalt_update_failures_total counter\n"
      "basalt_update_failures_total{reason=\"integrity\"} 1\n"
      "# HELP basalt_update_rollbacks_total Boots that fell back to the previous slot after an "
      "update.\n"
      "# TYPE basalt_update_rollbacks_total counter\n"
      "basalt_update_rollbacks_total 1\n"
      "# HELP basalt_update_rolled_back_release 1 for each release this host booted and fell "
      "back from, with the channel it follows.\n"
      "# TYPE basalt_update_rolled_back_release gauge\n"
      "basalt_update_rolled_back_release{release=\"2.0\",channel=\"stable\"} 1\n"
      "# HELP basalt_update_route 1 for the payload route of the update in flight or staged "
      "(delta or full), 0 for the other; both 0 when there is none.\n"
      "# TYPE basalt_update_route gauge\n"
      "basalt_update_route{route=\"delta\"} 1\n"
      "basalt_update_route{route=\"full\"} 0\n"
      "# HELP basalt_update_attempt_info Always 1; the label names the release of the last update "
      "attempt (none before any).\n"
      "# TYPE basalt_update_attempt_info gauge\n"
      "basalt_update_attempt_info{release=\"2.0\"} 1\n";
  EXPECT_EQ(FormatMetrics(m), want);
}

TEST(FleetMetrics, AfterFailuresAndARollbackWithHostileLabelValues) {
  UpdateMetrics m;
  m.state = "rolled-back";
  m.current_version = "1.0\"evil\\\nversion";
  m.failures = {{"download", 3}, {"integrity", 1}, {"source \"mismatch\"", 2}};
  m.rollbacks = 1;
  auto text = FormatMetrics(m);
  auto samples = ParsePrometheus(text);
  EXPECT_EQ(Value(samples, "basalt_update_state", {{"state", "rolled-back"}}), 1);
  EXPECT_EQ(
      Value(samples, "basalt_update_info",
            {{"current_version", "1.0\"evil\\\nversion"}, {"next_version", ""}, {"channel", ""}}),
      1);
  EXPECT_EQ(Value(samples, "basalt_update_failures_total", {{"reason", "download"}}), 3);
  EXPECT_EQ(Value(samples, "basalt_update_failures_total", {{"reason", "integrity"}}), 1);
  EXPECT_EQ(Value(samples, "basalt_update_failures_total", {{"reason", "source \"mismatch\""}}), 2);
  EXPECT_EQ(Value(samples, "basalt_update_rollbacks_total"), 1);
  EXPECT_EQ(Value(samples, "basalt_update_last_success_timestamp_seconds"), 0);
}

TEST(FleetMetrics, UnknownStateIsStillReportedAndFileIsReplacedAtomically) {
  UpdateMetrics m;
  m.state = "waiting-for-lock";
  auto samples = ParsePrometheus(FormatMetrics(m));
  EXPECT_EQ(Value(samples, "basalt_update_state", {{"state", "waiting-for-lock"}}), 1);

  auto dir = std::filesystem::temp_directory_path() / ("fleet-metrics-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string path = dir / "metrics.prom";
  ASSERT_TRUE(WriteMetricsFile(path, m).has_value());
  m.state = "idle";
  ASSERT_TRUE(WriteMetricsFile(path, m).has_value());
  auto text = ReadFileToString(path);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, FormatMetrics(m));
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0644));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir))
    ++entries;
  EXPECT_EQ(entries, 1u) << "no temp files left behind";
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(WriteMetricsFile("/nonexistent-dir/metrics.prom", m).has_value());
}

// --- Omaha -----------------------------------------------------------------------------------

TEST(FleetOmaha, RequestEscapesValuesAndCarriesEveryField) {
  OmahaRequest r;
  r.app_id = "{app}";
  r.version = "1.2.3";
  r.track = "beta\"<&>";
  r.machine_id = "m";
  r.boot_id = "b";
  r.oem = "azure";
  r.update_check = true;
  r.event = OmahaEvent{3, 0, 2000, "1.2.2"};
  std::string xml = BuildOmahaRequest(r);
  EXPECT_TRUE(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<request"));
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml.c_str()));
  auto app = doc.child("request").child("app");
  EXPECT_STREQ(app.attribute("track").value(), "beta\"<&>");
  EXPECT_STREQ(app.attribute("oem").value(), "azure");
  EXPECT_STREQ(app.attribute("delta_okay").value(), "false");
  EXPECT_TRUE(app.child("updatecheck"));
  EXPECT_STREQ(app.child("event").attribute("errorcode").value(), "2000");
  EXPECT_STREQ(app.child("event").attribute("previousversion").value(), "1.2.2");
  EXPECT_STREQ(doc.child("request").child("os").attribute("sp").value(), "1.2.3_amd64-usr");
}

std::string Response(const std::string& app_inner, const std::string& appid = "{APP}") {
  return R"(<?xml version="1.0"?><response protocol="3.0" server="t"><app appid=")" + appid +
         R"(" status="ok">)" + app_inner + "</app></response>";
}

const std::string kHex(64, 'a');

std::string Check(const std::string& pkg_attrs,
                  const std::string& urls = R"(<url codebase="http://h/p/"/>)",
                  const std::string& actions = "") {
  return Response(R"(<updatecheck status="ok"><urls>)" + urls +
                  R"(</urls><manifest version="9.9.9"><packages><package )" + pkg_attrs +
                  "/></packages>" + actions + "</manifest></updatecheck>");
}

TEST(FleetOmaha, ParserAcceptsAppIdCaseInsensitivelyAndHashInEitherPlace) {
  auto r = ParseOmahaResponse(
      Check(R"(name="p.bin" size="10" hash_sha256=")" + std::string(64, 'A') + "\""), "{app}");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->server, "t");
  EXPECT_EQ(r->offer.sha256, kHex) << "normalized to lower case";
  EXPECT_EQ(r->offer.urls, std::vector<std::string>{"http://h/p/p.bin"});

  std::string b64 = Base64Encode(std::string(32, '\xaa'));
  r = ParseOmahaResponse(Check(R"(name="p.bin" size="10")", R"(<url codebase="https://h/"/>)",
                               R"(<actions><action event="postinstall" sha256=")" + b64 +
                                   R"(" IsDeltaPayload="false"/></actions>)"),
                         "{APP}");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->offer.sha256, std::string(64, 'a'));
  EXPECT_EQ(r->offer.postinstall.at("IsDeltaPayload"), "false");
}

TEST(FleetOmaha, ParserRejectsWhatItCannotTrustToMeanOneThing) {
  std::string b64_other = Base64Encode(std::string(32, '\xbb'));
  struct Case {
    std::string xml;
    std::string says;
  } cases[] = {
      {"", "not well-formed XML"},
      {"<request protocol=\"3.0\"/>", "root element is <request>"},
      {R"(<response protocol="2.0"/>)", "protocol \"2.0\" is not 3.0"},
      {Response("<updatecheck status=\"noupdate\"/>", "{OTHER}"), "no <app> for appid {APP}"},
      {Response("<updatecheck status=\"maybe\"/>"), "neither ok, noupdate nor error-*"},
      {Response(""), "has no <updatecheck>"},
      {Check(R"(name="p" size="10" hash_sha256=")" + kHex + "\"", "<url codebase=\"ftp://h/\"/>"),
       "is not an http:// or https:// URL"},
      {Check(R"(name="p" size="10" hash_sha256=")" + kHex + "\"", ""), "lists no <url>"},
      {Check(R"(name="../p" size="10" hash_sha256=")" + kHex + "\""), "not a plain file name"},
      {Check(R"(name="p" size="10" hash_sha256="abc")"), "is not 64 hex digits"},
      {Check(R"(name="p" size="0" hash_sha256=")" + kHex + "\""), "positive decimal"},
      {Check(R"(name="p" size="1x" hash_sha256=")" + kHex + "\""), "positive decimal"},
      {Check(R"(name="p" size="10")"), "has no SHA-256"},
      {Check(R"(name="p" size="10" hash_sha256=")" + kHex + "\"", "<url codebase=\"http://h/\"/>",
             R"(<actions><action event="postinstall" sha256=")" + b64_other + R"("/></actions>)"),
       "disagree"},
      {Check(R"(name="p" size="10")", "<url codebase=\"http://h/\"/>",
             R"(<actions><action event="postinstall" sha256="!!"/></actions>)"),
       "not the base64 of a 32-byte SHA-256"},
  };
  for (const auto& c : cases) {
    auto r = ParseOmahaResponse(c.xml, "{APP}");
    ASSERT_FALSE(r.has_value()) << c.xml;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos)
        << r.error().message() << "\nexpected: " << c.says;
  }
  // Two packages: Basalt payloads are one file.
  std::string two = Response(
      R"(<updatecheck status="ok"><urls><url codebase="http://h/"/></urls><manifest version="1"><packages><package name="a" size="1" hash_sha256=")" +
      kHex + R"("/><package name="b" size="1" hash_sha256=")" + kHex +
      R"("/></packages></manifest></updatecheck>)");
  auto r = ParseOmahaResponse(two, "{APP}");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("exactly one <package>, found 2"), std::string::npos);
  // Server-side errors keep their kind, so the daemon retries the right ones.
  auto internal = ParseOmahaResponse(Response("<updatecheck status=\"error-internal\"/>"), "{APP}");
  ASSERT_FALSE(internal.has_value());
  EXPECT_EQ(internal.error().kind(), ErrorKind::kIo);
}

// --- etcd client, scripted ---------------------------------------------------------------------

class ScriptedFetcher : public http::Fetcher {
 public:
  struct Call {
    std::string url, body;
  };
  std::vector<Call> calls;
  std::map<std::string, Result<std::string>> answers;  // by URL prefix (endpoint)

  Result<std::string> Get(const std::string& url, size_t) override {
    return Failf(ErrorKind::kIo, "GET {}", url);
  }
  Result<uint64_t> GetRange(const std::string& url, uint64_t, uint64_t,
                            const http::ByteSink&) override {
    return Failf(ErrorKind::kIo, "GET {}", url);
  }
  Result<std::string> Post(const std::string& url, std::string_view body, std::string_view,
                           size_t) override {
    calls.push_back({url, std::string(body)});
    for (const auto& [prefix, answer] : answers)
      if (url.starts_with(prefix)) return answer;
    return Failf(ErrorKind::kIo, "POST {}: connection refused", url);
  }
};

TEST(FleetEtcd, TxnWireFormatAndFailover) {
  auto fetcher = std::make_unique<ScriptedFetcher>();
  auto* f = fetcher.get();
  std::string kv_key = Base64Encode("/k");
  f->answers.emplace(
      "http://b",
      std::string(
          R"({"header":{"revision":"7"},"succeeded":true,"responses":[{"response_range":{"kvs":[{"key":")") +
          kv_key + R"(","value":")" + Base64Encode("v") +
          R"(","mod_revision":"5","create_revision":"3","lease":"42"}]}}]})");
  EtcdOptions o;
  o.endpoints = {"http://a:2379", "http://b:2379"};
  auto c = EtcdClient::Create(o, std::move(fetcher));
  ASSERT_TRUE(c.has_value());
  auto r = (*c)->Txn({Compare{"/sem", Compare::Target::kMod, 0}},
                     {TxnOp{TxnOp::Kind::kRange, "/k", "", 0}});
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(r->revision, 7);
  ASSERT_EQ(r->ranges.size(), 1u);
  ASSERT_EQ(r->ranges[0].size(), 1u);
  EXPECT_EQ(r->ranges[0][0].key, "/k");
  EXPECT_EQ(r->ranges[0][0].value, "v");
  EXPECT_EQ(r->ranges[0][0].mod_revision, 5);
  EXPECT_EQ(r->ranges[0][0].lease, 42);
  ASSERT_EQ(f->calls.size(), 2u) << "a refused, then b";
  EXPECT_EQ(f->calls[0].url, "http://a:2379/v3/kv/txn");
  EXPECT_EQ(f->calls[1].url, "http://b:2379/v3/kv/txn");
  auto req = nlohmann::json::parse(f->calls[1].body);
  EXPECT_EQ(req["compare"][0]["key"], Base64Encode("/sem"));
  EXPECT_EQ(req["compare"][0]["target"], "MOD");
  EXPECT_EQ(req["compare"][0]["result"], "EQUAL");
  EXPECT_EQ(req["compare"][0]["mod_revision"], "0");
  EXPECT_EQ(req["success"][0]["request_range"]["key"], kv_key);

  // The endpoint that answered is asked first next time.
  f->calls.clear();
  ASSERT_TRUE((*c)->Txn({}, {TxnOp{TxnOp::Kind::kRange, "/k", "", 0}}).has_value());
  ASSERT_EQ(f->calls.size(), 1u);
  EXPECT_EQ(f->calls[0].url, "http://b:2379/v3/kv/txn");
}

TEST(FleetEtcd, MalformedAnswersAndAllEndpointsDown) {
  auto fetcher = std::make_unique<ScriptedFetcher>();
  auto* f = fetcher.get();
  EtcdOptions o;
  o.endpoints = {"http://a:2379"};
  auto c = EtcdClient::Create(o, std::move(fetcher));
  ASSERT_TRUE(c.has_value());
  auto down = (*c)->Txn({}, {});
  ASSERT_FALSE(down.has_value());
  EXPECT_EQ(down.error().kind(), ErrorKind::kIo);
  EXPECT_NE(down.error().message().find("etcd unreachable (tried 1 endpoint)"), std::string::npos);

  for (std::string bad :
       {std::string("not json"), std::string("[]"),
        std::string(R"({"succeeded":true,"responses":{}})"),
        std::string(
            R"({"succeeded":true,"responses":[{"response_range":{"kvs":[{"key":"!!"}]}}]})"),
        std::string(R"({"succeeded":true,"header":{"revision":"x"}})"),
        // Found by fuzzing: nlohmann's value() threw on a mistyped field instead of failing.
        std::string(R"({"succeeded":[],"responses":[{"response_range":{}}]})")}) {
    f->answers.clear();
    f->answers.emplace("http://a", bad);
    auto r = (*c)->Txn({}, {TxnOp{TxnOp::Kind::kRange, "/k", "", 0}});
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput) << bad << ": " << r.error().message();
  }
  EXPECT_FALSE(ParseEndpoints("").has_value());
  EXPECT_FALSE(ParseEndpoints("etcd:2379").has_value());
  auto eps = ParseEndpoints("http://a:2379/, https://b:2379");
  ASSERT_TRUE(eps.has_value());
  EXPECT_EQ(*eps, (std::vector<std::string>{"http://a:2379", "https://b:2379"}));
  o.cert_file = "/c.pem";
  EXPECT_FALSE(EtcdClient::Create(o).has_value()) << "a certificate needs its key";
}

TEST(FleetConfig, UpdateConfFeedsTheCoordinatorAndTheOmahaSource) {
  daemon::UpdateConfig cfg;
  ASSERT_TRUE(daemon::ApplyConfigText(
      "SERVER=https://nebraska.example/v1/update/\nPROTOCOL=omaha\nOMAHA_APP_ID={a}\n"
      "ETCD_ENDPOINTS=http://e1:2379,http://e2:2379\nETCD_LOCK_GROUP=g\nETCD_MAX_HOLDERS=2\n"
      "ETCD_LOCK_TTL=30m\nETCD_CAFILE=/ca\nETCD_CERTFILE=/c\nETCD_KEYFILE=/k\n",
      "t.conf", cfg));
  auto e = EtcdLockConfigFrom(cfg, "m1");
  EXPECT_EQ(e.etcd.endpoints, (std::vector<std::string>{"http://e1:2379", "http://e2:2379"}));
  EXPECT_EQ(e.group, "g");
  EXPECT_EQ(e.max_holders, 2);
  EXPECT_EQ(e.lease_ttl, std::chrono::minutes(30));
  EXPECT_EQ(e.etcd.ca_file, "/ca");
  EXPECT_EQ(e.etcd.cert_file, "/c");
  EXPECT_EQ(e.etcd.key_file, "/k");
  EXPECT_EQ(e.machine_id, "m1");
  auto o = OmahaConfigFrom(cfg);
  EXPECT_EQ(o.server, "https://nebraska.example/v1/update/");
  EXPECT_EQ(o.app_id, "{a}");
}

}  // namespace
}  // namespace basalt::fleet
