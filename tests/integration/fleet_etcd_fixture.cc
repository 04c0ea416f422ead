#include "integration/fleet_etcd_fixture.h"

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

#include "http/fetcher.h"

extern char** environ;

namespace basalt::fleet::testing {

namespace {
constexpr char kEtcd[] = "/usr/bin/etcd";
}  // namespace

bool EtcdServer::installed() {
  return access(kEtcd, X_OK) == 0;
}

EtcdServer::EtcdServer() {
  if (!installed()) {
    error_ = "etcd not installed (apt-get install etcd-server)";
    return;
  }
  char tmpl[] = "/tmp/basalt-etcd-XXXXXX";
  if (!mkdtemp(tmpl)) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (Start()) return;
    if (!error_.empty()) return;
  }
  error_ = "etcd exited at start three times (ports taken?); see " + dir_ + "/etcd.log";
}

bool EtcdServer::Start() {
  client_port_ = std::make_unique<basalt::testing::PortReservation>();
  peer_port_ = std::make_unique<basalt::testing::PortReservation>();
  endpoint_ = "http://127.0.0.1:" + std::to_string(client_port_->port());
  std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port_->port());
  std::error_code ec;
  std::filesystem::remove_all(dir_ + "/data", ec);
  std::vector<std::string> args = {kEtcd,
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
    return false;
  }
  // Another test's etcd cannot be on these ports (they are reserved), so a healthy answer is
  // this one's; an etcd that exits lost its port to a process outside the suite.
  auto fetcher = http::MakeCurlFetcher();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    auto h = fetcher->Get(endpoint_ + "/health", 4096);
    if (h && h->find("\"true\"") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Stop();
  error_ = "etcd did not become healthy within 30s; see " + dir_ + "/etcd.log";
  return false;
}

void EtcdServer::Stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }
}

EtcdServer::~EtcdServer() {
  Stop();
  if (!dir_.empty() && error_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

DeadEndpoint::DeadEndpoint() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("DeadEndpoint: cannot bind a port on 127.0.0.1");
  }
  url_ = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

DeadEndpoint::~DeadEndpoint() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace basalt::fleet::testing
