// Runs numbered tasks on worker threads and hands their results to a consumer strictly in
// task order, with at most `window` finished-but-unconsumed results held at once, so memory
// stays bounded while output (blob order, hence the payload bytes) stays deterministic.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/run_catching.h"

namespace basalt::payload {

template <typename T>
Status RunOrdered(size_t count, unsigned threads, size_t window,
                  const std::function<Result<T>(size_t)>& run,
                  const std::function<Status(size_t, T&&)>& consume) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result<T>>> done(count);
  size_t next_task = 0;
  size_t next_consume = 0;
  bool stop = false;
  auto worker = [&] {
    while (true) {
      size_t i;
      {
        std::unique_lock lock(mu);
        cv.wait(lock,
                [&] { return stop || next_task >= count || next_task < next_consume + window; });
        if (stop || next_task >= count) return;
        i = next_task++;
      }
      Result<T> r = RunCatching("payload worker", [&] { return run(i); });
      {
        std::lock_guard lock(mu);
        done[i].emplace(std::move(r));
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < std::max(1u, threads); ++t)
    pool.emplace_back(worker);
  Status status;
  for (size_t i = 0; i < count; ++i) {
    std::optional<Result<T>> r;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return done[i].has_value(); });
      r = std::move(done[i]);
      done[i].reset();
    }
    if (!*r) {
      status = std::unexpected(std::move(*r).error());
    } else {
      status = consume(i, std::move(**r));
    }
    {
      std::lock_guard lock(mu);
      next_consume = i + 1;
      if (!status) stop = true;
    }
    cv.notify_all();
    if (!status) break;
  }
  for (auto& t : pool)
    t.join();
  return status;
}

}  // namespace basalt::payload
