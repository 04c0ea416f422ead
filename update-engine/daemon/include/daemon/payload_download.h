// Downloads a signed payload into the state directory, riding out network faults: every
// retryable failure (reset, stall, 5xx, short read) waits with capped exponential backoff and
// continues with an HTTP Range request from the last byte on disk, so nothing is fetched twice.
// Size inflation and a wrong SHA-256 are not retried blindly: the partial file is dropped and the
// error returned.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "common/error.h"
#include "common/log.h"
#include "daemon/backoff.h"
#include "daemon/state_store.h"
#include "http/fetcher.h"

namespace basalt::update {

struct DownloadOptions {
  RetryPolicy retry;
  // Sleeps between attempts; returns false when cancelled. Default: this thread sleeps.
  std::function<bool(std::chrono::milliseconds)> sleep;
  std::function<double()> random01;  // jitter; default std::random_device based
  // Bytes received from the network (including those of failed attempts).
  std::function<void(uint64_t received)> on_bytes;
  // Bytes of the payload on disk so far.
  std::function<void(uint64_t have, uint64_t total)> progress;
};

// dest appears only complete and verified; dest + ".part" holds a partial download.
Status DownloadWithRetry(http::Fetcher& fetcher, const PlannedPayload& payload,
                         const std::string& dest, const DownloadOptions& options, Logger& log);

}  // namespace basalt::update
