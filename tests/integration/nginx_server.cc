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

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool PortOpen(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

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
  for (int attempt = 0; attempt < 5; ++attempt) {
    int port = FreePort();
    std::string conf = fmt::format(R"(worker_processes 1;
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
    {extra}
  }}
}}
)",
                                   fmt::arg("user", ::geteuid() == 0 ? "user root root;" : ""),
                                   fmt::arg("dir", work_dir), fmt::arg("port", port),
                                   fmt::arg("www", root), fmt::arg("extra", server_extra));
    std::ofstream(work_dir + "/nginx.conf") << conf;
    pid_t pid = ::fork();
    if (pid == 0) {
      std::string c = work_dir + "/nginx.conf";
      ::execl(bin.c_str(), bin.c_str(), "-p", work_dir.c_str(), "-c", c.c_str(), "-g",
              "daemon off;", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      if (PortOpen(port)) return std::unique_ptr<NginxServer>(new NginxServer(pid, port, work_dir));
      int status;
      if (::waitpid(pid, &status, WNOHANG) == pid) break;  // died: port taken? retry
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  return nullptr;
}

NginxServer::~NginxServer() {
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
}

std::string NginxServer::url() const {
  return fmt::format("http://127.0.0.1:{}", port_);
}

}  // namespace basalt::testing
