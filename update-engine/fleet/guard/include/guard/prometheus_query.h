// Prometheus's HTTP instant-query API (GET /api/v1/query?query=...), for `basalt rollout guard`.
// Every answer is hostile until parsed: bounded in size, read strictly (only a "success" status
// with a "vector" result), and every rejection is one line naming the query.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "http/fetcher.h"

namespace basalt::guard {

// The largest answer read: a fleet view is a few series per version, not megabytes.
inline constexpr size_t kMaxPrometheusAnswer = size_t{4} << 20;
inline constexpr size_t kMaxPrometheusSeries = 100000;

struct PromSample {
  std::map<std::string, std::string> labels;
  double value = 0;  // may be NaN or infinite: Prometheus says so, the caller judges
};

// Pure: an instant-query answer's samples. Errors (kInvalidInput; a Prometheus "error" answer
// is kInvalidInput with its errorType and message) do not name the query; QueryVector adds it.
Result<std::vector<PromSample>> ParseVectorAnswer(std::string_view body);

// base (http://host:9090, with or without a trailing slash) + "/api/v1/query?query=<encoded>".
std::string QueryUrl(std::string_view base, std::string_view query);

// A PromQL string literal: the value double-quoted, backslash and quote escaped.
std::string PromQuote(std::string_view value);

// Runs one instant query. Errors say "prometheus query `<query>`: ...".
Result<std::vector<PromSample>> QueryVector(http::Fetcher& fetcher, std::string_view base,
                                            std::string_view query);

}  // namespace basalt::guard
