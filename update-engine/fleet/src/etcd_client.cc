#include "fleet/etcd_client.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "common/base64.h"

namespace basalt::fleet {
namespace {

using nlohmann::json;

// Responses are small (a lock's few keys); anything bigger is not an etcd we understand.
constexpr size_t kMaxResponse = 4 << 20;

std::string B64(std::string_view s) {
  return Base64Encode(s);
}

Result<std::string> UnB64(const json& v, std::string_view field) {
  if (!v.is_string())
    return Failf(ErrorKind::kInvalidInput, "etcd response: {} is not a string", field);
  auto bytes = Base64Decode(v.get<std::string>());
  if (!bytes)
    return std::unexpected(bytes.error().WithContext(fmt::format("etcd response: {}", field)));
  return std::string(bytes->begin(), bytes->end());
}

// The gateway writes int64 as strings ("12") and leaves out zero values entirely.
Result<int64_t> Int(const json& obj, std::string_view field) {
  auto it = obj.find(field);
  if (it == obj.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  return Failf(ErrorKind::kInvalidInput, "etcd response: {} is not an integer", field);
}

// The smallest key greater than every key with this prefix, etcd's range_end for a prefix.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto c = static_cast<unsigned char>(prefix.back());
    if (c < 0xff) {
      prefix.back() = static_cast<char>(c + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

json OpJson(const TxnOp& op) {
  switch (op.kind) {
    case TxnOp::Kind::kPut: {
      json put = {{"key", B64(op.key)}, {"value", B64(op.value)}};
      if (op.lease != 0) put["lease"] = std::to_string(op.lease);
      return {{"request_put", put}};
    }
    case TxnOp::Kind::kDelete:
      return {{"request_delete_range", {{"key", B64(op.key)}}}};
    case TxnOp::Kind::kRange:
      return {{"request_range", {{"key", B64(op.key)}}}};
    case TxnOp::Kind::kRangePrefix:
      return {{"request_range", {{"key", B64(op.key)}, {"range_end", B64(PrefixEnd(op.key))}}}};
  }
  return {};
}

Result<KeyValue> ParseKv(const json& j) {
  if (!j.is_object()) return Fail(ErrorKind::kInvalidInput, "etcd response: kv is not an object");
  KeyValue kv;
  BASALT_ASSIGN_OR_RETURN(kv.key, UnB64(j.value("key", json()), "kv.key"));
  if (j.contains("value")) {
    BASALT_ASSIGN_OR_RETURN(kv.value, UnB64(j["value"], "kv.value"));
  }
  BASALT_ASSIGN_OR_RETURN(kv.create_revision, Int(j, "create_revision"));
  BASALT_ASSIGN_OR_RETURN(kv.mod_revision, Int(j, "mod_revision"));
  BASALT_ASSIGN_OR_RETURN(kv.lease, Int(j, "lease"));
  return kv;
}

Result<json> ParseJson(const std::string& text, std::string_view what) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Failf(ErrorKind::kInvalidInput, "etcd {}: response is not a JSON object", what);
  }
  return doc;
}

}  // namespace

Result<std::vector<std::string>> ParseEndpoints(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find_first_of(", \t", i);
    if (j == std::string_view::npos) j = text.size();
    std::string ep(text.substr(i, j - i));
    i = j + 1;
    if (ep.empty()) continue;
    if (!ep.starts_with("http://") && !ep.starts_with("https://")) {
      return Failf(ErrorKind::kInvalidInput, "etcd endpoint '{}' is not an http:// or https:// URL",
                   ep);
    }
    while (ep.back() == '/')
      ep.pop_back();
    out.push_back(std::move(ep));
  }
  if (out.empty()) return Fail(ErrorKind::kInvalidInput, "no etcd endpoints given");
  return out;
}

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(EtcdOptions options,
                                                       std::unique_ptr<http::Fetcher> fetcher) {
  if (options.endpoints.empty()) return Fail(ErrorKind::kInvalidInput, "no etcd endpoints given");
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Fail(ErrorKind::kInvalidInput,
                "etcd TLS client authentication needs both a certificate and a key file");
  }
  if (!fetcher) {
    http::FetchOptions fo;
    fo.connect_timeout_seconds = options.request_timeout_seconds;
    fo.total_timeout_seconds = options.request_timeout_seconds;
    fo.stall_seconds = options.request_timeout_seconds;
    fo.ca_file = options.ca_file;
    fo.cert_file = options.cert_file;
    fo.key_file = options.key_file;
    fo.user_agent = "basalt-etcd";
    fetcher = http::MakeCurlFetcher(fo);
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(options), std::move(fetcher)));
}

Result<std::string> EtcdClient::Call(const std::string& path, const std::string& body) {
  std::string tried;
  const size_t n = options_.endpoints.size();
  for (size_t k = 0; k < n; ++k) {
    size_t idx = (preferred_ + k) % n;
    const std::string& ep = options_.endpoints[idx];
    auto got = fetcher_->Post(ep + path, body, "application/json", kMaxResponse);
    if (got) {
      preferred_ = idx;
      return got;
    }
    // Only an unreachable or failing member is worth asking the next one; a refusal (404 for a
    // missing lease, a malformed answer) would be the same everywhere.
    if (got.error().kind() != ErrorKind::kIo) return std::unexpected(got.error());
    tried += fmt::format("{}{}", tried.empty() ? "" : "; ", got.error().message());
  }
  return Failf(ErrorKind::kIo, "etcd unreachable (tried {} endpoint{}): {}", n, n == 1 ? "" : "s",
               tried);
}

Result<TxnResult> EtcdClient::Txn(const std::vector<Compare>& compares,
                                  const std::vector<TxnOp>& success,
                                  const std::vector<TxnOp>& failure) {
  json req = json::object();
  json cmp = json::array();
  for (const auto& c : compares) {
    bool mod = c.target == Compare::Target::kMod;
    cmp.push_back({{"key", B64(c.key)},
                   {"result", "EQUAL"},
                   {"target", mod ? "MOD" : "CREATE"},
                   {mod ? "mod_revision" : "create_revision", std::to_string(c.revision)}});
  }
  json ok = json::array(), bad = json::array();
  for (const auto& op : success)
    ok.push_back(OpJson(op));
  for (const auto& op : failure)
    bad.push_back(OpJson(op));
  req["compare"] = cmp;
  req["success"] = ok;
  req["failure"] = bad;
  BASALT_ASSIGN_OR_RETURN(std::string text, Call("/v3/kv/txn", req.dump()));
  BASALT_ASSIGN_OR_RETURN(json doc, ParseJson(text, "txn"));
  TxnResult r;
  // The gateway leaves out false, so absence means the failure branch ran.
  if (auto s = doc.find("succeeded"); s != doc.end()) {
    if (!s->is_boolean())
      return Fail(ErrorKind::kInvalidInput, "etcd txn: succeeded is not a boolean");
    r.succeeded = s->get<bool>();
  }
  if (auto h = doc.find("header"); h != doc.end() && h->is_object()) {
    BASALT_ASSIGN_OR_RETURN(r.revision, Int(*h, "revision"));
  }
  const auto& ran = r.succeeded ? success : failure;
  size_t expected_ranges = 0;
  for (const auto& op : ran) {
    expected_ranges += op.kind == TxnOp::Kind::kRange || op.kind == TxnOp::Kind::kRangePrefix;
  }
  if (auto rs = doc.find("responses"); rs != doc.end()) {
    if (!rs->is_array()) return Fail(ErrorKind::kInvalidInput, "etcd txn: responses is not a list");
    for (const auto& resp : *rs) {
      if (!resp.is_object()) continue;
      auto rr = resp.find("response_range");
      if (rr == resp.end()) continue;
      std::vector<KeyValue> kvs;
      if (rr->is_object()) {
        if (auto list = rr->find("kvs"); list != rr->end()) {
          if (!list->is_array())
            return Fail(ErrorKind::kInvalidInput, "etcd txn: kvs is not a list");
          for (const auto& kv : *list) {
            BASALT_ASSIGN_OR_RETURN(KeyValue parsed, ParseKv(kv));
            kvs.push_back(std::move(parsed));
          }
        }
      }
      r.ranges.push_back(std::move(kvs));
    }
  }
  if (r.ranges.size() != expected_ranges) {
    return Failf(ErrorKind::kInvalidInput, "etcd txn: expected {} range results, got {}",
                 expected_ranges, r.ranges.size());
  }
  return r;
}

Result<int64_t> EtcdClient::LeaseGrant(int64_t ttl_seconds) {
  json req = {{"TTL", std::to_string(ttl_seconds)}, {"ID", "0"}};
  BASALT_ASSIGN_OR_RETURN(std::string text, Call("/v3/lease/grant", req.dump()));
  BASALT_ASSIGN_OR_RETURN(json doc, ParseJson(text, "lease grant"));
  if (doc.contains("error") && doc["error"].is_string() &&
      !doc["error"].get<std::string>().empty()) {
    return Failf(ErrorKind::kIo, "etcd lease grant: {}", doc["error"].get<std::string>());
  }
  BASALT_ASSIGN_OR_RETURN(int64_t id, Int(doc, "ID"));
  if (id == 0) return Fail(ErrorKind::kInvalidInput, "etcd lease grant: no lease ID in the answer");
  return id;
}

Result<int64_t> EtcdClient::LeaseKeepAlive(int64_t id) {
  json req = {{"ID", std::to_string(id)}};
  BASALT_ASSIGN_OR_RETURN(std::string text, Call("/v3/lease/keepalive", req.dump()));
  // A streaming RPC through the gateway: one {"result": {...}} object per line.
  auto nl = text.find('\n');
  BASALT_ASSIGN_OR_RETURN(json doc, ParseJson(text.substr(0, nl), "lease keepalive"));
  auto res = doc.find("result");
  if (res == doc.end() || !res->is_object()) {
    return Fail(ErrorKind::kInvalidInput, "etcd lease keepalive: no result in the answer");
  }
  return Int(*res, "TTL");
}

Result<std::optional<int64_t>> EtcdClient::LeaseTimeToLive(int64_t id) {
  json req = {{"ID", std::to_string(id)}};
  BASALT_ASSIGN_OR_RETURN(std::string text, Call("/v3/lease/timetolive", req.dump()));
  BASALT_ASSIGN_OR_RETURN(json doc, ParseJson(text, "lease timetolive"));
  BASALT_ASSIGN_OR_RETURN(int64_t ttl, Int(doc, "TTL"));
  if (ttl < 0) return std::optional<int64_t>();  // -1: no such lease
  return std::optional<int64_t>(ttl);
}

Status EtcdClient::LeaseRevoke(int64_t id) {
  json req = {{"ID", std::to_string(id)}};
  auto got = Call("/v3/lease/revoke", req.dump());
  if (!got && got.error().kind() != ErrorKind::kNotFound) return std::unexpected(got.error());
  return {};
}

}  // namespace basalt::fleet
