// An Omaha server's answer, end to end up to the update flow's rule for unsigned offers: the
// response bytes go through OmahaUpdateSource::Check (the parser it uses, its https and pin
// rules) to an UpdateOffer, and the offer through the version rule the flow applies before
// anything is written (UpdateFlow::CheckOfferedVersion: a well-formed version, newer than the
// running one). The invariants are what the daemon relies on: an offer agrees with what the
// parser read, and an acceptable offer is well formed and strictly newer, by an order that is
// antisymmetric and transitive.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fleet/omaha_source.h"
#include "http/fetcher.h"
#include "omaha_response.h"
#include "repo/names.h"

namespace {
using namespace basalt;

constexpr std::string_view kAppId = "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}";
constexpr std::string_view kRunning = "2000.1.0";
// Versions below kRunning: an offer newer than it is newer than these too.
constexpr std::string_view kOlder[] = {"2000.0.9", "2000.1.0-rc1", "1999", "10.0.0"};
constexpr std::string_view kPin = "9999.0.0";

// Answers every POST with the current input.
class InputFetcher : public http::Fetcher {
 public:
  std::string_view input;
  Result<std::string> Get(const std::string& url, size_t) override {
    return Failf(ErrorKind::kIo, "GET {}", url);
  }
  Result<uint64_t> GetRange(const std::string& url, uint64_t, uint64_t,
                            const http::ByteSink&) override {
    return Failf(ErrorKind::kIo, "GET {}", url);
  }
  Result<std::string> Post(const std::string&, std::string_view, std::string_view,
                           size_t max_size) override {
    if (input.size() > max_size) return Fail(ErrorKind::kIntegrity, "response too large");
    return std::string(input);
  }
};

struct Source {
  InputFetcher* fetcher;
  std::unique_ptr<fleet::OmahaUpdateSource> source;
};

Source MakeSource(bool allow_http) {
  auto fetcher = std::make_unique<InputFetcher>();
  Source s{fetcher.get(), nullptr};
  fleet::OmahaConfig config;
  config.server = "https://nebraska.example/v1/update/";
  config.app_id = std::string(kAppId);
  config.allow_insecure_http = allow_http;
  s.source = std::make_unique<fleet::OmahaUpdateSource>(config, std::move(fetcher));
  return s;
}

update::HostFacts Facts() {
  update::HostFacts h;
  h.current_version = std::string(kRunning);
  h.channel = "stable";
  h.machine_id = "0123456789abcdef0123456789abcdef";
  return h;
}

// The flow's rule for an offer that is not a signed decision (UpdateFlow::CheckOfferedVersion
// without an operator's forced pin).
bool Acceptable(const update::UpdateOffer& offer, std::string_view running) {
  if (!repo::CheckVersion(offer.version, "offered version")) return false;
  return offer.signed_decision || repo::CompareVersions(offer.version, running) > 0;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// What CheckVersion guarantees a boot entry label and a directory name: 1-64 characters of
// [A-Za-z0-9._+-], starting alphanumeric, no "..".
bool SafeVersion(std::string_view v) {
  if (v.empty() || v.size() > 64 || v.find("..") != std::string_view::npos) return false;
  auto alnum = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  if (!alnum(v.front())) return false;
  for (char c : v) {
    if (!alnum(c) && c != '.' && c != '_' && c != '+' && c != '-') return false;
  }
  return true;
}

// The checks on one offer of one source configuration.
void CheckOffer(const Result<update::UpdateOffer>& offer,
                const Result<fleet::OmahaResponse>& parsed, bool allow_http) {
  if (!parsed) {
    if (offer) __builtin_trap();  // a response the parser refuses is never an offer
    return;
  }
  if (!offer) {
    // Only the https rule turns a parsed update into an error.
    if (!parsed->update || offer.error().kind() != ErrorKind::kPolicy) __builtin_trap();
    return;
  }
  if (offer->signed_decision || offer->metadata_version) __builtin_trap();  // Omaha signs nothing
  if (!offer->update) {
    if (offer->code.empty() || offer->reason.empty() || !offer->payloads.empty()) __builtin_trap();
    if (parsed->update && offer->code == "up-to-date" && parsed->offer.version != kRunning) {
      __builtin_trap();
    }
    return;
  }
  if (!parsed->update) __builtin_trap();
  const fleet::OmahaUpdate& u = parsed->offer;
  if (offer->version != u.version || offer->version == kRunning) __builtin_trap();
  if (offer->payloads.size() != 1) __builtin_trap();
  const update::OfferedPayload& p = offer->payloads[0];
  if (p.delta || p.urls != u.urls || p.urls.empty() || p.size != u.size) __builtin_trap();
  if (p.sha256 != u.sha256 || p.sha256.size() != 64 || !IsLowerHex(p.sha256)) __builtin_trap();
  for (const std::string& url : p.urls) {
    if (!url.starts_with("https://") && !(allow_http && url.starts_with("http://"))) {
      __builtin_trap();
    }
  }

  // The version order on whatever version the server sent, well formed or not.
  const std::string& v = offer->version;
  const int cmp = repo::CompareVersions(v, kRunning);
  if (cmp != -repo::CompareVersions(kRunning, v)) __builtin_trap();
  if (repo::CompareVersions(v, v) != 0) __builtin_trap();

  if (!Acceptable(*offer, kRunning)) return;
  // Accepted: well formed, strictly newer, and newer than everything older than the running one.
  if (!SafeVersion(v) || cmp <= 0) __builtin_trap();
  for (std::string_view older : kOlder) {
    if (repo::CompareVersions(older, kRunning) >= 0) __builtin_trap();  // the fixture itself
    if (repo::CompareVersions(v, older) <= 0 || !Acceptable(*offer, older)) __builtin_trap();
  }
  // Build metadata does not order versions: "+build" neither makes an older offer newer nor
  // a newer one older.
  if (repo::CompareVersions(v, std::string(kRunning) + "+build.7") <= 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Source strict = MakeSource(false);
  static Source lenient = MakeSource(true);
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  strict.fetcher->input = xml;
  lenient.fetcher->input = xml;

  const update::HostFacts facts = Facts();
  auto parsed = fleet::ParseOmahaResponse(xml, kAppId);
  auto strict_offer = strict.source->Check(facts);
  auto lenient_offer = lenient.source->Check(facts);
  CheckOffer(strict_offer, parsed, false);
  CheckOffer(lenient_offer, parsed, true);
  // Allowing http:// only ever adds offers.
  if (strict_offer && strict_offer->update &&
      (!lenient_offer || !lenient_offer->update ||
       lenient_offer->version != strict_offer->version)) {
    __builtin_trap();
  }

  // A pinned host takes only its pin from an unsigned server.
  update::HostFacts pinned = facts;
  pinned.pin = std::string(kPin);
  auto pinned_offer = lenient.source->Check(pinned);
  CheckOffer(pinned_offer, parsed, true);
  if (pinned_offer && pinned_offer->update && pinned_offer->version != kPin) __builtin_trap();
  if (lenient_offer && lenient_offer->update && lenient_offer->version != kPin &&
      (!pinned_offer || pinned_offer->update || pinned_offer->code != "pinned")) {
    __builtin_trap();
  }
  return 0;
}
