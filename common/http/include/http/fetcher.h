// Fetching repository files over libcurl: http://, https://, file:// and plain directory
// paths (air-gapped updates from a USB stick or NFS). Shared by the CLI and basalt-updated.
// Every read is bounded: documents by a size cap, payloads by the size their signed release
// states, so a hostile or broken server cannot feed endless data.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::http {

// Receives bytes in order; a failed Status aborts the transfer with that error.
using ByteSink = std::function<Status(std::span<const uint8_t>)>;

class Fetcher {
 public:
  virtual ~Fetcher() = default;
  // A whole small document. More than max_size bytes is a kIntegrity error; 404 (and 403 and 410,
  // which object stores answer for a missing key) is kNotFound;
  // network and server faults are kIo (retryable).
  virtual Result<std::string> Get(const std::string& url, size_t max_size) = 0;
  // Everything from offset to the end of url, in order, to sink (an open-ended HTTP Range
  // request "bytes=offset-" when offset > 0, so an interrupted download continues where it
  // stopped). The rest of the resource must fit in max_bytes: a payload download passes
  // signed size - offset, and a server that sends more (size inflation, endless data) is cut
  // off with kIntegrity at once. Returns how many bytes were delivered, which may be fewer
  // when the resource is shorter (the caller's hash check decides). A server that ignores
  // Range has its leading bytes skipped.
  virtual Result<uint64_t> GetRange(const std::string& url, uint64_t offset, uint64_t max_bytes,
                                    const ByteSink& sink) = 0;
  // POSTs body with the given Content-Type and returns the response body (at most max_size
  // bytes, else kIntegrity). Used by the fleet clients (etcd's JSON gateway, Omaha). Errors as
  // Get(); the default is for fetchers that only read repositories.
  virtual Result<std::string> Post(const std::string& url, std::string_view body,
                                   std::string_view content_type, size_t max_size);
  // While *flag is true, a transfer in progress stops within about a second with an error of
  // kind kPolicy and errno ECANCELED (the daemon's Cancel). nullptr: never. The flag must
  // outlive the fetcher's transfers. The default is for fetchers without transfers to stop.
  virtual void SetCancelFlag(const std::atomic<bool>* flag) { (void)flag; }
};

struct FetchOptions {
  long connect_timeout_seconds = 30;
  // A transfer slower than low_speed_bytes per second for this long is a stall and fails
  // (retryably), instead of hanging a host forever.
  long stall_seconds = 60;
  long low_speed_bytes = 1;
  std::string user_agent = "basalt";
  // TLS: a CA bundle to trust instead of the system's, and a client certificate and key (PEM)
  // for servers that authenticate clients (etcd with --client-cert-auth). Empty: unused.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Limits a whole request, not only a stall: 0 is no limit (payload downloads); the fleet
  // clients set a few seconds so a hung endpoint fails over to the next.
  long total_timeout_seconds = 0;
  // Get (metadata: channel and release documents) must finish within this many seconds, 0 = no
  // limit. A mirror that drips bytes would otherwise hold a check for days, and with it any
  // newer channel and the expiry alarm (METADATA_TIMEOUT in update.conf).
  long metadata_timeout_seconds = 60;
  // GetRange (payloads) fails when fewer than min_rate_bytes_per_second * min_rate_window_seconds
  // bytes arrive within any window of that many seconds, counted from the start of the
  // transfer; 0 = no floor (DOWNLOAD_MIN_RATE, DOWNLOAD_MIN_RATE_WINDOW in update.conf). The
  // error has errno ETIMEDOUT, so a caller can tell it from a reset connection.
  uint64_t min_rate_bytes_per_second = 4096;
  long min_rate_window_seconds = 120;
};

std::unique_ptr<Fetcher> MakeCurlFetcher(const FetchOptions& options = {});

// Joins a repository base (URL, file:// URL or directory path) with a relative path. A
// directory path becomes an absolute, percent-encoded file:// URL.
Result<std::string> RepositoryUrl(std::string_view base, std::string_view relative);

// A URL as it may be shown (logs, errors, D-Bus): "user:password@" becomes "***@", and the value
// of every query parameter becomes "***" (CDN and presigned URLs carry their tokens there; the
// names stay, so a reader still sees what kind of URL it was). Everything else is unchanged.
std::string RedactUrl(std::string_view url);
// RedactUrl applied to every "scheme://..." inside free text (an error message), up to the next
// space, quote or angle bracket.
std::string RedactUrls(std::string_view text);

}  // namespace basalt::http
