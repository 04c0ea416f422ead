// An HTTP server on 127.0.0.1 that answers every GET with 200 and a fixed body, sent a few bytes
// at a time with a pause between them: a mirror that drips (issue 18, item 4). The listening
// socket is bound to port 0 and kept open, so no other process can take the port. Test-only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace basalt::testing {

class DripServer {
 public:
  // Sends `bytes_per_tick` bytes of `body` every `tick` (default: 2 bytes a second).
  explicit DripServer(std::string body, size_t bytes_per_tick = 1,
                      std::chrono::milliseconds tick = std::chrono::milliseconds(500));
  ~DripServer();
  DripServer(const DripServer&) = delete;
  DripServer& operator=(const DripServer&) = delete;

  std::string Url(const std::string& path) const;  // path starts with '/'
  int requests() const { return requests_; }
  uint64_t bytes_sent() const { return bytes_sent_; }
  // Connections whose client hung up before the body was complete.
  int hangups() const { return hangups_; }
  // Waits (bounded) until at least n body bytes went out; false on timeout.
  bool WaitForBytes(uint64_t n, std::chrono::seconds timeout = std::chrono::seconds(30)) const;

 private:
  void Serve();
  void Handle(int fd);

  std::string body_;
  size_t per_tick_;
  std::chrono::milliseconds tick_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0}, hangups_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  std::mutex mu_;
  std::vector<std::thread> handlers_;
  std::thread thread_;
};

}  // namespace basalt::testing
