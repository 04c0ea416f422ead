#include "daemon/payload_download.h"

#include <sys/stat.h>

#include <cerrno>
#include <random>
#include <thread>

#include "repo/repo_source.h"

namespace basalt::update {
namespace {

// Counts what the network delivers and reports progress, around the real fetcher.
class CountingFetcher : public http::Fetcher {
 public:
  CountingFetcher(http::Fetcher& inner, const DownloadOptions& o, uint64_t total)
      : inner_(inner), o_(o), total_(total) {}
  Result<std::string> Get(const std::string& url, size_t max_size) override {
    return inner_.Get(url, max_size);
  }
  Result<uint64_t> GetRange(const std::string& url, uint64_t offset, uint64_t max_bytes,
                            const http::ByteSink& sink) override {
    uint64_t pos = offset;
    http::ByteSink counted = [&](std::span<const uint8_t> d) -> Status {
      BASALT_RETURN_IF_ERROR(sink(d));
      pos += d.size();
      if (o_.on_bytes) o_.on_bytes(d.size());
      if (o_.progress) o_.progress(pos, total_);
      return {};
    };
    return inner_.GetRange(url, offset, max_bytes, counted);
  }

 private:
  http::Fetcher& inner_;
  const DownloadOptions& o_;
  uint64_t total_;
};

uint64_t PartSize(const std::string& dest) {
  struct stat st;
  return ::stat((dest + ".part").c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Network faults are retried here. A transfer below the throughput floor (ETIMEDOUT from the
// fetcher) is not: retrying at once would only let a dripping mirror hold the run forever, a
// few bytes per window. The run ends with that error and keeps its plan and .part file; the
// next mirror, or the next check, continues from the last byte on disk.
bool Retryable(const Error& e) {
  return e.kind() == ErrorKind::kIo && e.sys_errno() != ETIMEDOUT;
}

}  // namespace

Status DownloadWithRetry(http::Fetcher& fetcher, const PlannedPayload& payload,
                         const std::string& dest, const DownloadOptions& options, Logger& log) {
  struct stat st;
  if (::stat(dest.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == payload.size) {
    return {};  // verified and renamed into place by an earlier run
  }
  repo::PayloadRef ref;
  ref.kind = payload.delta ? repo::PayloadKind::kDelta : repo::PayloadKind::kFull;
  ref.from_version = payload.from_version;
  ref.url = payload.url;
  ref.size = payload.size;
  ref.sha256 = payload.sha256;

  std::random_device rd;
  std::mt19937_64 rng(rd());
  auto random01 = options.random01 ? options.random01 : std::function<double()>([&rng] {
    return std::uniform_real_distribution<double>(0, 1)(rng);
  });
  auto sleep =
      options.sleep
          ? options.sleep
          : std::function<bool(std::chrono::milliseconds)>([](std::chrono::milliseconds d) {
              std::this_thread::sleep_for(d);
              return true;
            });
  Backoff backoff(options.retry, random01);
  CountingFetcher counting(fetcher, options, payload.size);
  int attempts = 0;
  while (true) {
    uint64_t before = PartSize(dest);
    auto s = repo::DownloadPayload(counting, payload.url, ref, dest);
    if (s) return {};
    ++attempts;
    const Error& e = s.error();
    // A complete file with the wrong hash was removed by DownloadPayload; one fresh attempt is
    // worth it (a proxy may have mangled it), a second mismatch is the payload's fault.
    bool integrity_retry = e.kind() == ErrorKind::kIntegrity && attempts == 1;
    if (!Retryable(e) && !integrity_retry) return s;
    if (options.retry.max_attempts > 0 && attempts >= options.retry.max_attempts) {
      return std::unexpected(Error(e).WithContext(
          fmt::format("download failed {} times; giving up until the next check", attempts)));
    }
    if (PartSize(dest) > before) backoff.Reset();  // progress: the link works, just flaky
    auto delay = backoff.Next();
    log.Warn(fmt::format("download interrupted at {} of {} bytes: {}; retrying in {} ms",
                         PartSize(dest), payload.size, e.message(), delay.count()));
    if (!sleep(delay)) return Fail(ErrorKind::kPolicy, "download cancelled");
  }
}

}  // namespace basalt::update
