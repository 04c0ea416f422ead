#include "integration/fault_proxy.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace basalt::testing {
namespace {

bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

FaultProxy::FaultProxy(int upstream_port, FaultPlan plan)
    : upstream_port_(upstream_port), plan_(std::move(plan)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    throw std::runtime_error("fault proxy: bind/listen failed");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string FaultProxy::url() const {
  return fmt::format("http://127.0.0.1:{}", port_);
}

void FaultProxy::Loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0) continue;
    Handle(client);
    ::close(client);
  }
}

// One request per connection (the proxy asks for Connection: close upstream and closes the
// client side after each response), which is all libcurl needs.
void FaultProxy::Handle(int client) {
  std::string req;
  char buf[65536];
  while (req.find("\r\n\r\n") == std::string::npos) {
    pollfd p{client, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return;
    ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
  }
  ++requests_;
  size_t sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
  std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
  bool faulty = path.ends_with(plan_.faulty_suffix);
  if (faulty) {
    int n = ++faulty_requests_;
    if (plan_.stall_request > 0 && n == plan_.stall_request) {
      ++stalls_;
      // Send the headers of a response whose body never comes.
      std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n";
      SendAll(client, head.data(), head.size());
      for (int i = 0; i < plan_.stall_seconds * 10 && !stop_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return;
    }
    if (plan_.fail_every > 0 && n % plan_.fail_every == 1) {
      ++failures_;
      std::string r = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
      SendAll(client, r.data(), r.size());
      return;
    }
  }
  size_t hdr_end = req.find("\r\n\r\n");
  std::string upstream_req = req.substr(0, hdr_end) + "\r\nConnection: close\r\n\r\n";
  int up = Connect(upstream_port_);
  if (up < 0) return;
  if (!SendAll(up, upstream_req.data(), upstream_req.size())) {
    ::close(up);
    return;
  }
  bool in_body = false;
  std::string head;
  uint64_t body = 0;
  while (true) {
    ssize_t n = ::recv(up, buf, sizeof buf, 0);
    if (n <= 0) break;
    size_t len = static_cast<size_t>(n);
    const char* data = buf;
    if (!in_body) {
      head.append(buf, len);
      size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      in_body = true;
      size_t body_in_head = head.size() - (end + 4);
      if (!SendAll(client, head.data(), end + 4)) break;
      data = buf + (len - body_in_head);
      len = body_in_head;
    }
    if (faulty && plan_.cut_every > 0 && body + len > plan_.cut_every) {
      len = static_cast<size_t>(plan_.cut_every - body);
      if (len > 0 && SendAll(client, data, len)) {
        body += len;
        faulty_bytes_ += len;
      }
      ++cuts_;
      break;
    }
    if (!SendAll(client, data, len)) break;
    body += len;
    if (faulty) faulty_bytes_ += len;
  }
  ::close(up);
}

}  // namespace basalt::testing
