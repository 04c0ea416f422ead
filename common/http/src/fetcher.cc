#include "http/fetcher.h"

#include <curl/curl.h>

#include <filesystem>
#include <mutex>

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

class CurlFetcher : public Fetcher {
 public:
  explicit CurlFetcher(const FetchOptions& options) : options_(options) {}

  Result<std::string> Get(const std::string& url, size_t max_size) override {
    std::string out;
    ByteSink sink = [&out](std::span<const uint8_t> d) -> Status {
      out.append(reinterpret_cast<const char*>(d.data()), d.size());
      return {};
    };
    auto got = Run(url, 0, max_size, sink);
    if (!got) return std::unexpected(std::move(got).error());
    return out;
  }

  Result<uint64_t> GetRange(const std::string& url, uint64_t offset, uint64_t max_bytes,
                            const ByteSink& sink) override {
    return Run(url, offset, max_bytes, sink);
  }

  Result<std::string> Post(const std::string& url, std::string_view body,
                           std::string_view content_type, size_t max_size) override {
    std::string out;
    ByteSink sink = [&out](std::span<const uint8_t> d) -> Status {
      out.append(reinterpret_cast<const char*>(d.data()), d.size());
      return {};
    };
    PostBody post{body, fmt::format("Content-Type: {}", content_type)};
    auto got = Run(url, 0, max_size, sink, &post);
    if (!got) return std::unexpected(std::move(got).error());
    return out;
  }

 private:
  struct PostBody {
    std::string_view data;
    std::string content_type_header;
  };

  Result<uint64_t> Run(const std::string& url, uint64_t offset, uint64_t max_bytes,
                       const ByteSink& sink, const PostBody* post = nullptr) {
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
    if (!t.status) return std::unexpected(std::move(t.status).error().WithContext(url));
    if (rc != CURLE_OK) {
      long code = 0;
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
      if (rc == CURLE_HTTP_RETURNED_ERROR) {
        return Failf(code == 404 ? ErrorKind::kNotFound : ErrorKind::kIo, "{} {}: HTTP {}",
                     post ? "POST" : "GET", url, code);
      }
      if (rc == CURLE_FILE_COULDNT_READ_FILE) {
        return Failf(ErrorKind::kNotFound, "GET {}: {}", url,
                     errbuf[0] ? errbuf : curl_easy_strerror(rc));
      }
      return Failf(ErrorKind::kIo, "{} {}: {}", post ? "POST" : "GET", url,
                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    return t.delivered;
  }

  FetchOptions options_;
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

Result<std::string> RepositoryUrl(std::string_view base, std::string_view relative) {
  if (base.empty()) return Fail(ErrorKind::kInvalidInput, "empty repository location");
  std::string root;
  if (HasScheme(base)) {
    root = std::string(base);
  } else if (base.find("://") != std::string_view::npos) {
    return Failf(ErrorKind::kUnsupported,
                 "repository {}: only http://, https://, file:// and directory paths are "
                 "supported",
                 base);
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
