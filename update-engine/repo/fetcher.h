// Fetching repository files over libcurl: http://, https://, file:// and plain directory
// paths (air-gapped updates from a USB stick or NFS). Shared by the CLI and basalt-updated.
// Every read is bounded: documents by a size cap, payloads by the size their signed release
// states, so a hostile or broken server cannot feed endless data.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::repo {

// Receives bytes in order; a failed Status aborts the transfer with that error.
using ByteSink = std::function<Status(std::span<const uint8_t>)>;

class Fetcher {
 public:
  virtual ~Fetcher() = default;
  // A whole small document. More than max_size bytes is a kIntegrity error; 404 is kNotFound;
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
};

struct FetchOptions {
  long connect_timeout_seconds = 30;
  // A transfer slower than low_speed_bytes per second for this long is a stall and fails
  // (retryably), instead of hanging a host forever.
  long stall_seconds = 60;
  long low_speed_bytes = 1;
  std::string user_agent = "basalt";
};

std::unique_ptr<Fetcher> MakeCurlFetcher(const FetchOptions& options = {});

// Joins a repository base (URL, file:// URL or directory path) with a relative path. A
// directory path becomes an absolute, percent-encoded file:// URL.
Result<std::string> RepositoryUrl(std::string_view base, std::string_view relative);

}  // namespace basalt::repo
