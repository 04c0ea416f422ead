#include "integration/nginx_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace basalt::testing {

namespace {

// The body of GET /.basalt-test-server on 127.0.0.1:port ("" on any error): a plain socket, so
// the fixture depends on nothing but nginx.
std::string Identify(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET /.basalt-test-server HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        response.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  auto body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos) return "";
  return response.substr(body + 4);
}

}  // namespace

std::string NginxServer::Binary() {
  for (const char* p : {"/usr/sbin/nginx", "/usr/bin/nginx"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

std::unique_ptr<NginxServer> NginxServer::Start(const std::string& root,
                                                const std::string& work_dir,
                                                const std::string& server_extra) {
  std::string bin = Binary();
  if (bin.empty()) return nullptr;
  std::filesystem::create_directories(work_dir + "/tmp");
  // Answers on this path prove that the server on the port is this one, not another test's.
  const std::string token = fmt::format("{}-{}", ::getpid(), work_dir);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto reservation = std::make_unique<PortReservation>();
    const int port = reservation->port();
    std::string conf =
        fmt::format(R"(worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log {dir}/access.log;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port};
    root {www};
    location = /.basalt-test-server {{ access_log off; return 200 "{token}"; }}
    {extra}
  }}
}}
)",
                    fmt::arg("user", ::geteuid() == 0 ? "user root root;" : ""),
                    fmt::arg("dir", work_dir), fmt::arg("port", port), fmt::arg("www", root),
                    fmt::arg("token", token), fmt::arg("extra", server_extra));
    std::ofstream(work_dir + "/nginx.conf") << conf;
    pid_t pid = ::fork();
    if (pid == 0) {
      std::string c = work_dir + "/nginx.conf";
      ::execl(bin.c_str(), bin.c_str(), "-p", work_dir.c_str(), "-c", c.c_str(), "-g",
              "daemon off;", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      int status;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;  // died: the port was taken after all; try another
        break;
      }
      if (PortOpen(port) && Identify(port) == token) {
        return std::unique_ptr<NginxServer>(new NginxServer(pid, std::move(reservation), work_dir));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  return nullptr;
}

NginxServer::~NginxServer() {
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
}

std::string NginxServer::url() const {
  return fmt::format("http://127.0.0.1:{}", port());
}

}  // namespace basalt::testing
