// A real etcd (Debian's etcd-server) on 127.0.0.1 with free ports and a throw-away data dir, for
// the fleet tests. Started per test suite; stopped and cleaned up on destruction.
#pragma once

#include <sys/types.h>

#include <string>

namespace basalt::fleet::testing {

class EtcdServer {
 public:
  // Empty error() when etcd answers /health; otherwise why it could not be started.
  EtcdServer();
  ~EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  const std::string& error() const { return error_; }
  const std::string& endpoint() const { return endpoint_; }  // http://127.0.0.1:PORT

 private:
  pid_t pid_ = -1;
  std::string dir_;
  std::string endpoint_;
  std::string error_;
};

// A TCP port on 127.0.0.1 nobody listened on a moment ago.
int FreePort();
// A port where nothing listens (connection refused), for failover tests.
std::string DeadEndpoint();

}  // namespace basalt::fleet::testing
