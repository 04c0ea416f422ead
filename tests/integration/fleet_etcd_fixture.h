// A real etcd (Debian's etcd-server) on 127.0.0.1 with reserved ports and a throw-away data dir,
// for the fleet tests. Started per test suite; stopped and cleaned up on destruction.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "test_util.h"

namespace basalt::fleet::testing {

class EtcdServer {
 public:
  // Empty error() when etcd answers /health; otherwise why it could not be started.
  // installed() tells a missing etcd (a reason to skip) from one that failed (a failure).
  EtcdServer();
  ~EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  static bool installed();
  const std::string& error() const { return error_; }
  const std::string& endpoint() const { return endpoint_; }  // http://127.0.0.1:PORT

 private:
  // One attempt on freshly reserved ports; false when etcd exited (a port was taken after all).
  bool Start();
  void Stop();

  pid_t pid_ = -1;
  std::unique_ptr<basalt::testing::PortReservation> client_port_, peer_port_;
  std::string dir_;
  std::string endpoint_;
  std::string error_;
};

// An endpoint where nothing listens (connection refused), for failover tests: a port bound and
// held, never listened on, so no other server can take it while this lives.
class DeadEndpoint {
 public:
  DeadEndpoint();
  ~DeadEndpoint();
  DeadEndpoint(const DeadEndpoint&) = delete;
  DeadEndpoint& operator=(const DeadEndpoint&) = delete;
  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT

 private:
  int fd_ = -1;
  std::string url_;
};

}  // namespace basalt::fleet::testing
