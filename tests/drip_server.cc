#include "drip_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace basalt::testing {
namespace {

bool SendAll(int fd, const char* data, size_t size) {
  size_t off = 0;
  while (off < size) {
    ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

DripServer::DripServer(std::string body, size_t bytes_per_tick, std::chrono::milliseconds tick)
    : body_(std::move(body)), per_tick_(bytes_per_tick), tick_(tick) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("drip server: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

DripServer::~DripServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  for (std::thread& t : handlers_)
    t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string DripServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

bool DripServer::WaitForBytes(uint64_t n, std::chrono::seconds timeout) const {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (bytes_sent_ < n) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void DripServer::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++requests_;
    std::lock_guard lock(mu_);
    handlers_.emplace_back([this, fd] {
      Handle(fd);
      close(fd);
    });
  }
}

void DripServer::Handle(int fd) {
  // The request is read up to its blank line and otherwise ignored (a Range header too).
  std::string request;
  char buf[1024];
  while (request.find("\r\n\r\n") == std::string::npos && !stop_) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: " +
      std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n";
  if (!SendAll(fd, head.data(), head.size())) return;
  for (size_t off = 0; off < body_.size() && !stop_;) {
    // The drip itself: the pause is the fault under test, not synchronisation.
    std::this_thread::sleep_for(tick_);
    size_t n = std::min(per_tick_, body_.size() - off);
    if (!SendAll(fd, body_.data() + off, n)) {
      ++hangups_;
      return;
    }
    bytes_sent_ += n;
    off += n;
  }
}

}  // namespace basalt::testing
