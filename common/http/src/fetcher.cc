#include "http/fetcher.h"

#include <curl/curl.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>

namespace basalt::http {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;

// What the write callback needs; lives on the stack of one transfer.
struct Transfer {
  CURL* curl = nullptr;
  uint64_t offset = 0;     // requested start
  uint64_t max_bytes = 0;  // cap on delivered bytes
  uint64_t to_skip = 0;    // leading bytes to drop when the server ignored Range
  bool checked_status = false;
  uint64_t delivered = 0;
  const ByteSink* sink = nullptr;
  Status status;  // why the callback aborted, if it did
};

size_t WriteCallback(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nmemb;
  auto* data = reinterpret_cast<const uint8_t*>(ptr);
  size_t len = n;
  if (!t->checked_status) {
    t->checked_status = true;
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    // 200 to a Range request: the server sent the whole resource from byte 0.
    if (t->offset > 0 && code == 200) t->to_skip = t->offset;
  }
  if (t->to_skip > 0) {
    size_t skip = static_cast<size_t>(std::min<uint64_t>(t->to_skip, len));
    t->to_skip -= skip;
    data += skip;
    len -= skip;
  }
  if (len == 0) return n;
  if (len > t->max_bytes - t->delivered) {
    t->status = Failf(ErrorKind::kIntegrity,
                      "server sent more than the expected {} bytes (size inflation or endless "
                      "data); transfer aborted",
                      t->max_bytes);
    return 0;
  }
  if (auto s = (*t->sink)(std::span(data, len)); !s) {
    t->status = std::move(s);
    return 0;
  }
  t->delivered += len;
  return n;
}

// The clock and counters behind the rules that bound a transfer in time: the cancel flag, the
// metadata deadline and the payload throughput floor. curl calls XferInfo about once a second
// even while no byte arrives, so each rule acts on a silent connection too.
struct Limits {
  using Clock = std::chrono::steady_clock;
  const std::atomic<bool>* cancel = nullptr;
  long deadline_seconds = 0;  // 0: none
  uint64_t min_rate = 0;      // bytes per second; 0: none
  long window_seconds = 0;
  Clock::time_point start = Clock::now();
  Clock::time_point window_start = start;
  uint64_t window_start_bytes = 0;
  std::optional<Error> why;  // set when a rule stopped the transfer
};

int XferInfo(void* userdata, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* l = static_cast<Limits*>(userdata);
  if (l->cancel != nullptr && l->cancel->load()) {
    l->why = Error(ErrorKind::kPolicy, "cancelled", ECANCELED);
    return 1;
  }
  const auto now = Limits::Clock::now();
  if (l->deadline_seconds > 0 && now - l->start >= std::chrono::seconds(l->deadline_seconds)) {
    l->why = Error(ErrorKind::kIo,
                   fmt::format("no complete answer within the metadata deadline of {} s "
                               "(METADATA_TIMEOUT); {} bytes received",
                               l->deadline_seconds, dlnow),
                   ETIMEDOUT);
    return 1;
  }
  if (l->min_rate > 0 && l->window_seconds > 0 &&
      now - l->window_start >= std::chrono::seconds(l->window_seconds)) {
    const uint64_t got = static_cast<uint64_t>(dlnow) - l->window_start_bytes;
    const uint64_t floor = l->min_rate * static_cast<uint64_t>(l->window_seconds);
    if (got < floor) {
      l->why = Error(ErrorKind::kIo,
                     fmt::format("transfer too slow: {} bytes in the last {} s, below the floor "
                                 "of {} bytes/s (DOWNLOAD_MIN_RATE, DOWNLOAD_MIN_RATE_WINDOW)",
                                 got, l->window_seconds, l->min_rate),
                     ETIMEDOUT);
      return 1;
    }
    l->window_start = now;
    l->window_start_bytes = static_cast<uint64_t>(dlnow);
  }
  return 0;
}

class CurlFetcher : public Fetcher {
 public:
  explicit CurlFetcher(const FetchOptions& options) : options_(options) {}

  Result<std::string> Get(const std::string& url, size_t max_size) override {
    std::string out;
    ByteSink sink = [&out](std::span<const uint8_t> d) -> Status {
      out.append(reinterpret_cast<const char*>(d.data()), d.size());
      return {};
    };
    auto got = Run(url, 0, max_size, sink, nullptr, Rules::kMetadata);
    if (!got) return std::unexpected(std::move(got).error());
    return out;
  }

  Result<uint64_t> GetRange(const std::string& url, uint64_t offset, uint64_t max_bytes,
                            const ByteSink& sink) override {
    return Run(url, offset, max_bytes, sink, nullptr, Rules::kPayload);
  }

  void SetCancelFlag(const std::atomic<bool>* flag) override { cancel_ = flag; }

  Result<std::string> Post(const std::string& url, std::string_view body,
                           std::string_view content_type, size_t max_size) override {
    std::string out;
    ByteSink sink = [&out](std::span<const uint8_t> d) -> Status {
      out.append(reinterpret_cast<const char*>(d.data()), d.size());
      return {};
    };
    PostBody post{body, fmt::format("Content-Type: {}", content_type)};
    auto got = Run(url, 0, max_size, sink, &post, Rules::kPost);
    if (!got) return std::unexpected(std::move(got).error());
    return out;
  }

 private:
  struct PostBody {
    std::string_view data;
    std::string content_type_header;
  };
  // Which time rules a request follows: documents a deadline, payloads a throughput floor, the
  // fleet's POSTs their total_timeout_seconds.
  enum class Rules { kMetadata, kPayload, kPost };

  Result<uint64_t> Run(const std::string& url, uint64_t offset, uint64_t max_bytes,
                       const ByteSink& sink, const PostBody* post, Rules rules) {
    CurlHandle curl(curl_easy_init());
    if (!curl) return Fail(ErrorKind::kInternal, "curl_easy_init failed");
    CURL* c = curl.get();
    char errbuf[CURL_ERROR_SIZE] = {};
    Transfer t;
    t.curl = c;
    t.offset = offset;
    t.max_bytes = max_bytes;
    t.sink = &sink;
    std::string range = fmt::format("{}-", offset);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_seconds);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_bytes);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options_.stall_seconds);
    curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteCallback);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    Limits limits;
    limits.cancel = cancel_;
    if (rules == Rules::kMetadata) limits.deadline_seconds = options_.metadata_timeout_seconds;
    if (rules == Rules::kPayload) {
      limits.min_rate = options_.min_rate_bytes_per_second;
      limits.window_seconds = options_.min_rate_window_seconds;
    }
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &XferInfo);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &limits);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (offset > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
    if (options_.total_timeout_seconds > 0)
      curl_easy_setopt(c, CURLOPT_TIMEOUT, options_.total_timeout_seconds);
    if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!options_.cert_file.empty())
      curl_easy_setopt(c, CURLOPT_SSLCERT, options_.cert_file.c_str());
    if (!options_.key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, options_.key_file.c_str());
    struct SlistDeleter {
      void operator()(curl_slist* l) const { curl_slist_free_all(l); }
    };
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    if (post) {
      // A POST is never redirected into a GET or to another host: the fleet servers answer
      // directly, and a redirect would resend the body somewhere unconfigured.
      curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
      curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, post->data.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post->data.size()));
      // No "Expect: 100-continue" round trip for bodies over 1 KiB.
      headers.reset(curl_slist_append(nullptr, post->content_type_header.c_str()));
      if (!headers) return Fail(ErrorKind::kInternal, "curl_slist_append failed");
      if (curl_slist* more = curl_slist_append(headers.get(), "Expect:")) {
        headers.release();
        headers.reset(more);
      }
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    }
    CURLcode rc = curl_easy_perform(c);
    // Messages name the URL without its credentials or token-like query values: they end up in
    // the journal and in LastError, which any local user may read.
    const std::string shown = RedactUrl(url);
    const char* method = post ? "POST" : "GET";
    if (!t.status) return std::unexpected(std::move(t.status).error().WithContext(shown));
    if (rc == CURLE_ABORTED_BY_CALLBACK && limits.why) {
      return std::unexpected(
          std::move(*limits.why).WithContext(fmt::format("{} {}", method, shown)));
    }
    if (rc != CURLE_OK) {
      long code = 0;
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
      if (rc == CURLE_HTTP_RETURNED_ERROR) {
        // Object stores answer 403 for a missing key when the reader may not list the bucket
        // (S3, GCS), and 410 means gone for good: all three say "no such file here".
        const bool missing = code == 404 || code == 403 || code == 410;
        return Failf(missing ? ErrorKind::kNotFound : ErrorKind::kIo, "{} {}: HTTP {}", method,
                     shown, code);
      }
      if (rc == CURLE_FILE_COULDNT_READ_FILE) {
        return Failf(ErrorKind::kNotFound, "GET {}: {}", shown,
                     RedactUrls(errbuf[0] ? errbuf : curl_easy_strerror(rc)));
      }
      return Failf(ErrorKind::kIo, "{} {}: {}", method, shown,
                   RedactUrls(errbuf[0] ? errbuf : curl_easy_strerror(rc)));
    }
    return t.delivered;
  }

  FetchOptions options_;
  const std::atomic<bool>* cancel_ = nullptr;
};

std::string PercentEncodePath(std::string_view path) {
  std::string out;
  for (char ch : path) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~' || c == '+') {
      out += ch;
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

bool HasScheme(std::string_view s) {
  return s.starts_with("http://") || s.starts_with("https://") || s.starts_with("file://");
}

}  // namespace

Result<std::string> Fetcher::Post(const std::string& url, std::string_view, std::string_view,
                                  size_t) {
  return Failf(ErrorKind::kUnsupported, "POST {}: this fetcher only reads", url);
}

std::unique_ptr<Fetcher> MakeCurlFetcher(const FetchOptions& options) {
  // curl_global_init is not thread-safe; doing it once here keeps that out of callers' way.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::make_unique<CurlFetcher>(options);
}

std::string RedactUrl(std::string_view url) {
  std::string out;
  const size_t scheme_end = url.find("://");
  size_t authority = 0;
  if (scheme_end != std::string_view::npos) {
    authority = scheme_end + 3;
    out.append(url.substr(0, authority));
    // The authority ends at the first '/', '?' or '#'; userinfo is what precedes its last '@'.
    size_t end = url.find_first_of("/?#", authority);
    if (end == std::string_view::npos) end = url.size();
    std::string_view auth = url.substr(authority, end - authority);
    if (size_t at = auth.rfind('@'); at != std::string_view::npos) {
      out.append("***@");
      auth.remove_prefix(at + 1);
    }
    out.append(auth);
    authority = end;
  }
  std::string_view rest = url.substr(authority);
  const size_t q = rest.find('?');
  if (q == std::string_view::npos) return out.append(rest);
  out.append(rest.substr(0, q + 1));
  std::string_view query = rest.substr(q + 1);
  std::string_view fragment;
  if (size_t h = query.find('#'); h != std::string_view::npos) {
    fragment = query.substr(h);
    query = query.substr(0, h);
  }
  // name=value&name=value: keep the names, hide the values (a bare word is hidden whole).
  bool first = true;
  while (true) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    if (!first) out += '&';
    first = false;
    if (size_t eq = param.find('='); eq != std::string_view::npos) {
      out.append(param.substr(0, eq + 1)).append("***");
    } else if (!param.empty()) {
      out.append("***");
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out.append(fragment);
}

std::string RedactUrls(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t sep = text.find("://", pos);
    if (sep == std::string_view::npos) break;
    size_t start = sep;
    while (start > pos &&
           (std::isalnum(static_cast<unsigned char>(text[start - 1])) || text[start - 1] == '+' ||
            text[start - 1] == '-' || text[start - 1] == '.')) {
      --start;
    }
    size_t end = text.find_first_of(" \t\n\"'<>", sep);
    if (end == std::string_view::npos) end = text.size();
    // "GET URL: reason": punctuation closing a clause is not part of the URL.
    while (end > sep + 3 && std::string_view(".,;:)").find(text[end - 1]) != std::string_view::npos)
      --end;
    out.append(text.substr(pos, start - pos));
    out.append(RedactUrl(text.substr(start, end - start)));
    pos = end;
  }
  return out.append(text.substr(pos));
}

Result<std::string> RepositoryUrl(std::string_view base, std::string_view relative) {
  if (base.empty()) return Fail(ErrorKind::kInvalidInput, "empty repository location");
  std::string root;
  if (HasScheme(base)) {
    root = std::string(base);
  } else if (base.find("://") != std::string_view::npos) {
    return Failf(ErrorKind::kUnsupported,
                 "repository {}: only http://, https://, file:// and directory paths are "
                 "supported",
                 RedactUrl(base));
  } else {
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(std::filesystem::path(base), ec);
    if (ec) return Failf(ErrorKind::kIo, "repository {}: {}", base, ec.message());
    root = "file://" + PercentEncodePath(abs.lexically_normal().string());
  }
  while (!root.empty() && root.back() == '/')
    root.pop_back();
  return root + "/" + PercentEncodePath(relative);
}

}  // namespace basalt::http
