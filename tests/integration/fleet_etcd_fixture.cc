#include "integration/fleet_etcd_fixture.h"

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "http/fetcher.h"

extern char** environ;

namespace basalt::fleet::testing {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

std::string DeadEndpoint() {
  return "http://127.0.0.1:" + std::to_string(FreePort());
}

EtcdServer::EtcdServer() {
  namespace fs = std::filesystem;
  if (access("/usr/bin/etcd", X_OK) != 0) {
    error_ = "etcd not installed (apt-get install etcd-server)";
    return;
  }
  char tmpl[] = "/tmp/basalt-etcd-XXXXXX";
  if (!mkdtemp(tmpl)) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  int client = FreePort(), peer = FreePort();
  endpoint_ = "http://127.0.0.1:" + std::to_string(client);
  std::string peer_url = "http://127.0.0.1:" + std::to_string(peer);
  std::vector<std::string> args = {"/usr/bin/etcd",
                                   "--name=basalt-test",
                                   "--data-dir=" + dir_ + "/data",
                                   "--listen-client-urls=" + endpoint_,
                                   "--advertise-client-urls=" + endpoint_,
                                   "--listen-peer-urls=" + peer_url,
                                   "--initial-advertise-peer-urls=" + peer_url,
                                   "--initial-cluster=basalt-test=" + peer_url,
                                   "--log-outputs=" + dir_ + "/etcd.log",
                                   "--logger=zap"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    pid_ = -1;
    error_ = "could not start etcd";
    return;
  }
  auto fetcher = http::MakeCurlFetcher();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto h = fetcher->Get(endpoint_ + "/health", 4096);
    if (h && h->find("\"true\"") != std::string::npos) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  error_ = "etcd did not become healthy within 30s; see " + dir_ + "/etcd.log";
}

EtcdServer::~EtcdServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
  if (!dir_.empty() && error_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

}  // namespace basalt::fleet::testing
