#include "swtpm.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <utility>

namespace basalt::testing {
namespace {

// Two consecutive free TCP ports on 127.0.0.1 (swtpm's server and control channels), found by
// letting the kernel pick one and checking its neighbour.
int FreePortPair() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      close(fd);
      continue;
    }
    const int port = ntohs(a.sin_port);
    int fd2 = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in b = a;
    b.sin_port = htons(port + 1);
    const bool ok = port < 65535 && bind(fd2, reinterpret_cast<sockaddr*>(&b), sizeof(b)) == 0;
    close(fd2);
    close(fd);
    if (ok) return port;
  }
  return 0;
}

bool Connectable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

}  // namespace

std::optional<Swtpm> Swtpm::Start(const std::string& state_dir, std::string* why) {
  if (access("/usr/bin/swtpm", X_OK) != 0) {
    *why = "swtpm is not installed (Debian package swtpm)";
    return std::nullopt;
  }
  if (access("/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0", R_OK) != 0) {
    *why = "the swtpm TCTI is not installed (Debian package libtss2-tcti-swtpm0)";
    return std::nullopt;
  }
  std::filesystem::create_directories(state_dir);
  const int port = FreePortPair();
  EXPECT_NE(port, 0) << "no free port pair on 127.0.0.1";
  const std::string server = fmt::format("type=tcp,port={},bindaddr=127.0.0.1", port);
  const std::string ctrl = fmt::format("type=tcp,port={},bindaddr=127.0.0.1", port + 1);
  const std::string state = "dir=" + state_dir;
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/usr/bin/swtpm", "swtpm", "socket", "--tpm2", "--server", server.c_str(), "--ctrl",
          ctrl.c_str(), "--tpmstate", state.c_str(), "--flags", "not-need-init,startup-clear",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  Swtpm tpm(pid, port);
  for (int i = 0; i < 200 && !Connectable(port); ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      tpm.pid_ = -1;
      ADD_FAILURE() << "swtpm exited at start (status " << status << ")";
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return tpm;
}

Swtpm::Swtpm(Swtpm&& o) noexcept : pid_(std::exchange(o.pid_, -1)), port_(o.port_) {}

Swtpm::~Swtpm() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
}

std::string Swtpm::tcti() const {
  return fmt::format("swtpm:host=127.0.0.1,port={}", port_);
}

}  // namespace basalt::testing
