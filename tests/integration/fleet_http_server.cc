#include "integration/fleet_http_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace basalt::fleet::testing {
namespace {

void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string Reply(int code, const std::string& type, const std::string& body) {
  const char* reason = code == 200 ? "OK" : code == 404 ? "Not Found" : "Error";
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

}  // namespace

RecordingHttpServer::RecordingHttpServer(std::string static_dir) : dir_(std::move(static_dir)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return;
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

RecordingHttpServer::~RecordingHttpServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string RecordingHttpServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void RecordingHttpServer::QueuePostResponse(std::string body) {
  std::lock_guard lock(mu_);
  responses_.push_back(std::move(body));
}

std::vector<RecordedRequest> RecordingHttpServer::Requests() {
  std::lock_guard lock(mu_);
  return requests_;
}

void RecordingHttpServer::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Handle(fd);
    close(fd);
  }
}

void RecordingHttpServer::Handle(int fd) {
  std::string in;
  char buf[65536];
  size_t header_end = std::string::npos;
  while (header_end == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    in.append(buf, static_cast<size_t>(n));
    header_end = in.find("\r\n\r\n");
  }
  RecordedRequest req;
  std::istringstream head(in.substr(0, header_end));
  std::string line;
  std::getline(head, line);
  std::istringstream first(line);
  first >> req.method >> req.path;
  size_t content_length = 0;
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name)
      c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.erase(0, 1);
    if (name == "content-length") content_length = std::stoul(value);
    if (name == "content-type") req.content_type = value;
  }
  req.body = in.substr(header_end + 4);
  while (req.body.size() < content_length) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    req.body.append(buf, static_cast<size_t>(n));
  }
  if (req.method == "POST") {
    std::string body;
    bool have = false;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
      if (!responses_.empty()) {
        body = std::move(responses_.front());
        responses_.pop_front();
        have = true;
      }
    }
    SendAll(fd, have ? Reply(200, "text/xml", body) : Reply(500, "text/plain", "no response\n"));
    return;
  }
  {
    std::lock_guard lock(mu_);
    requests_.push_back(req);
  }
  std::ifstream f(dir_ + req.path, std::ios::binary);
  if (req.path.find("..") != std::string::npos || !f) {
    SendAll(fd, Reply(404, "text/plain", "not found\n"));
    return;
  }
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  SendAll(fd, Reply(200, "application/octet-stream", data));
}

}  // namespace basalt::fleet::testing
