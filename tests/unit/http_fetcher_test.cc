// The time rules of the curl fetcher (issue 18, item 4) against DripServer, a mirror that sends
// 2 bytes a second: a document must arrive within the metadata deadline, a payload must keep
// above the throughput floor, and a cancel flag stops a transfer in progress. Deadlines are
// configured short; the tests only assert how each transfer ended. Also RedactUrl.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "drip_server.h"
#include "http/fetcher.h"

namespace basalt::http {
namespace {

using basalt::testing::DripServer;

FetchOptions NoRules() {
  FetchOptions o;
  o.metadata_timeout_seconds = 0;
  o.min_rate_bytes_per_second = 0;
  return o;
}

TEST(FetcherTimeRules, DrippingDocumentEndsAtTheMetadataDeadline) {
  DripServer server(std::string(4096, 'x'));
  FetchOptions o = NoRules();
  o.metadata_timeout_seconds = 2;
  auto fetcher = MakeCurlFetcher(o);
  auto got = fetcher->Get(server.Url("/channels/stable.json"), 1 << 20);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind(), ErrorKind::kIo);
  EXPECT_EQ(got.error().sys_errno(), ETIMEDOUT);
  EXPECT_NE(got.error().message().find(
                "/channels/stable.json: no complete answer within the metadata deadline of 2 s"),
            std::string::npos)
      << got.error().message();
}

TEST(FetcherTimeRules, DrippingPayloadEndsBelowTheThroughputFloor) {
  DripServer server(std::string(1 << 20, 'p'));
  FetchOptions o = NoRules();
  o.metadata_timeout_seconds = 1;  // documents only: a payload is not bound by it
  o.min_rate_bytes_per_second = 1024;
  o.min_rate_window_seconds = 3;
  auto fetcher = MakeCurlFetcher(o);
  uint64_t delivered = 0;
  auto got = fetcher->GetRange(server.Url("/full.payload"), 0, 1 << 20,
                               [&](std::span<const uint8_t> d) -> Status {
                                 delivered += d.size();
                                 return {};
                               });
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind(), ErrorKind::kIo);
  EXPECT_EQ(got.error().sys_errno(), ETIMEDOUT);
  EXPECT_NE(got.error().message().find("/full.payload: transfer too slow: "), std::string::npos)
      << got.error().message();
  EXPECT_NE(got.error().message().find("in the last 3 s, below the floor of 1024 bytes/s"),
            std::string::npos)
      << got.error().message();
  EXPECT_GT(delivered, 0u) << "the bytes that came were delivered";
}

// A payload as fast as loopback passes the floor; a small document the deadline.
TEST(FetcherTimeRules, FastTransfersPass) {
  DripServer server(std::string(64 << 10, 'f'), 64 << 10, std::chrono::milliseconds(1));
  FetchOptions o;
  o.metadata_timeout_seconds = 5;
  o.min_rate_bytes_per_second = 1024;
  o.min_rate_window_seconds = 1;
  auto fetcher = MakeCurlFetcher(o);
  auto doc = fetcher->Get(server.Url("/doc"), 1 << 20);
  ASSERT_TRUE(doc.has_value()) << doc.error().message();
  EXPECT_EQ(doc->size(), 64u << 10);
  uint64_t n = 0;
  auto got = fetcher->GetRange(server.Url("/p"), 0, 64 << 10, [&](std::span<const uint8_t> d) {
    n += d.size();
    return Status{};
  });
  ASSERT_TRUE(got.has_value()) << got.error().message();
  EXPECT_EQ(n, 64u << 10);
}

TEST(FetcherTimeRules, CancelStopsATransferInProgress) {
  DripServer server(std::string(1 << 20, 'c'));
  auto fetcher = MakeCurlFetcher(NoRules());
  std::atomic<bool> cancel{false};
  fetcher->SetCancelFlag(&cancel);
  Result<uint64_t> got = 0;
  std::thread t([&] {
    got = fetcher->GetRange(server.Url("/full.payload"), 0, 1 << 20,
                            [](std::span<const uint8_t>) { return Status{}; });
  });
  ASSERT_TRUE(server.WaitForBytes(2)) << "the transfer never started";
  cancel = true;
  t.join();  // without the flag, 1 MiB at 2 bytes/s: days
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind(), ErrorKind::kPolicy);
  EXPECT_EQ(got.error().sys_errno(), ECANCELED);
  EXPECT_EQ(got.error().message(), "GET " + server.Url("/full.payload") + ": cancelled");
}

TEST(RedactUrl, HidesCredentialsAndQueryValues) {
  const struct {
    const char* in;
    const char* out;
  } cases[] = {
      {"https://user:s3cret@updates.example/basalt", "https://***@updates.example/basalt"},
      {"http://token@h:8080/a@b/c", "http://***@h:8080/a@b/c"},
      {"https://cdn.example/p.payload?X-Amz-Signature=abc&Expires=1",
       "https://cdn.example/p.payload?X-Amz-Signature=***&Expires=***"},
      {"https://h/p?sekrit#frag", "https://h/p?***#frag"},
      {"https://u:p@h?t=1", "https://***@h?t=***"},
      {"file:///var/repo/channels/stable.json", "file:///var/repo/channels/stable.json"},
      {"/srv/repo", "/srv/repo"},
      {"", ""},
  };
  for (const auto& c : cases)
    EXPECT_EQ(RedactUrl(c.in), c.out) << c.in;
}

TEST(RedactUrl, EveryUrlInAMessage) {
  EXPECT_EQ(RedactUrls("GET https://a:b@h/x?k=v: HTTP 403; trying 'http://c@m/y' next"),
            "GET https://***@h/x?k=***: HTTP 403; trying 'http://***@m/y' next");
  EXPECT_EQ(RedactUrls("no url here"), "no url here");
}

// The fetcher's own errors never carry the credentials of SERVER.
TEST(RedactUrl, FetcherErrorsAreRedacted) {
  DripServer server("");
  std::string url = server.Url("/x");
  url.insert(url.find("127.0.0.1"), "admin:hunter2@");
  url = url.substr(0, url.rfind(':')) + ":1/x?token=hunter2";  // port 1: refused
  auto fetcher = MakeCurlFetcher(NoRules());
  auto got = fetcher->Get(url, 100);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().message().find("hunter2"), std::string::npos) << got.error().message();
  EXPECT_NE(got.error().message().find("http://***@127.0.0.1:1/x?token=***"), std::string::npos)
      << got.error().message();
}

}  // namespace
}  // namespace basalt::http
