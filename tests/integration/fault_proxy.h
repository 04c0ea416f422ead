// A fault-injecting HTTP proxy on 127.0.0.1 in front of a real server (nginx) for the update
// tests: it answers some requests with 503, stalls others, and cuts responses after a number
// of body bytes, and counts the body bytes it delivered per path suffix.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace basalt::testing {

struct FaultPlan {
  std::string faulty_suffix = ".payload";  // only these paths get faults
  uint64_t cut_every = 1 << 20;            // close after this many body bytes (0: never)
  int fail_every = 4;                      // every Nth faulty request gets a 503 (0: never)
  int stall_request = 2;                   // this faulty request stalls (0: none)
  int stall_seconds = 4;                   // how long a stall lasts before the proxy closes
};

class FaultProxy {
 public:
  FaultProxy(int upstream_port, FaultPlan plan);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  std::string url() const;
  uint64_t faulty_body_bytes() const { return faulty_bytes_; }
  int cuts() const { return cuts_; }
  int failures() const { return failures_; }
  int stalls() const { return stalls_; }
  int requests() const { return requests_; }

 private:
  void Loop();
  void Handle(int client);

  int upstream_port_;
  FaultPlan plan_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> faulty_bytes_{0};
  std::atomic<int> cuts_{0}, failures_{0}, stalls_{0}, requests_{0};
  int faulty_requests_ = 0;
  std::thread thread_;
};

}  // namespace basalt::testing
