#include "guard/prometheus_query.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "repo/json_fields.h"

namespace basalt::guard {
namespace {

using repo::FieldReader;

// Prometheus writes sample values as strings in Go's float format: "1", "0.5", "1e+06", "NaN",
// "+Inf", "-Inf".
Result<double> ParseSampleValue(std::string_view text) {
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  // from_chars also takes "inf" and "nan", which Prometheus never writes: refused.
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !std::isfinite(v)) {
    return Failf(ErrorKind::kInvalidInput, "sample value \"{}\" is not a number",
                 text.substr(0, 40));
  }
  return v;
}

Result<PromSample> ParseSample(const nlohmann::json& item, size_t index) {
  std::string where = fmt::format("data.result[{}]", index);
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(item, where));
  PromSample s;
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* metric, r.Object("metric"));
  for (const auto& [name, value] : metric->items()) {
    if (!value.is_string()) {
      return Failf(ErrorKind::kInvalidInput, "{}.metric.{}: expected a string", where,
                   name.substr(0, 40));
    }
    s.labels.emplace(name, value.get<std::string>());
  }
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* value, r.Array("value"));
  if (value->size() != 2 || !(*value)[0].is_number() || !(*value)[1].is_string()) {
    return Failf(ErrorKind::kInvalidInput, "{}.value: expected [timestamp, \"value\"]", where);
  }
  BASALT_ASSIGN_OR_RETURN(s.value, ParseSampleValue((*value)[1].get_ref<const std::string&>()));
  BASALT_RETURN_IF_ERROR(r.Finish());
  return s;
}

}  // namespace

Result<std::vector<PromSample>> ParseVectorAnswer(std::string_view body) {
  if (body.size() > kMaxPrometheusAnswer) {
    return Failf(ErrorKind::kInvalidInput, "answer of {} bytes is over the {} byte limit",
                 body.size(), kMaxPrometheusAnswer);
  }
  BASALT_ASSIGN_OR_RETURN(nlohmann::json j, repo::ParseJson(body, "answer"));
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(j, "answer"));
  BASALT_ASSIGN_OR_RETURN(std::string status, r.String("status"));
  // Prometheus adds these to either kind of answer; they are advice, not data.
  for (const char* advice : {"warnings", "infos"}) {
    if (!j.is_object() || !j.contains(advice)) continue;
    BASALT_ASSIGN_OR_RETURN([[maybe_unused]] const nlohmann::json* unused, r.Array(advice));
  }
  if (status == "error") {
    BASALT_ASSIGN_OR_RETURN(std::string type, r.String("errorType"));
    BASALT_ASSIGN_OR_RETURN(std::string message, r.String("error"));
    return Failf(ErrorKind::kInvalidInput, "Prometheus answered {}: {}", type.substr(0, 40),
                 message.substr(0, 200));
  }
  if (status != "success") {
    return Failf(ErrorKind::kInvalidInput, "answer.status: \"{}\" is neither success nor error",
                 status.substr(0, 40));
  }
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* data, r.Object("data"));
  BASALT_RETURN_IF_ERROR(r.Finish());
  BASALT_ASSIGN_OR_RETURN(FieldReader d, FieldReader::Open(*data, "data"));
  BASALT_ASSIGN_OR_RETURN(std::string type, d.String("resultType"));
  if (type != "vector") {
    return Failf(ErrorKind::kInvalidInput,
                 "data.resultType: \"{}\", expected \"vector\" (an instant query)",
                 type.substr(0, 40));
  }
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* result, d.Array("result"));
  BASALT_RETURN_IF_ERROR(d.Finish());
  if (result->size() > kMaxPrometheusSeries) {
    return Failf(ErrorKind::kInvalidInput, "data.result: {} series, over the limit of {}",
                 result->size(), kMaxPrometheusSeries);
  }
  std::vector<PromSample> out;
  out.reserve(result->size());
  for (size_t i = 0; i < result->size(); ++i) {
    BASALT_ASSIGN_OR_RETURN(PromSample s, ParseSample((*result)[i], i));
    out.push_back(std::move(s));
  }
  return out;
}

std::string QueryUrl(std::string_view base, std::string_view query) {
  std::string url(base);
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  url += "/api/v1/query?query=";
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : query) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      url += static_cast<char>(c);
    } else {
      url += '%';
      url += kHex[c >> 4];
      url += kHex[c & 15];
    }
  }
  return url;
}

std::string PromQuote(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

Result<std::vector<PromSample>> QueryVector(http::Fetcher& fetcher, std::string_view base,
                                            std::string_view query) {
  auto context = fmt::format("prometheus query `{}`", query);
  auto body = fetcher.Get(QueryUrl(base, query), kMaxPrometheusAnswer);
  if (!body) return std::unexpected(body.error().WithContext(context));
  auto samples = ParseVectorAnswer(*body);
  if (!samples) return std::unexpected(samples.error().WithContext(context));
  return samples;
}

}  // namespace basalt::guard
