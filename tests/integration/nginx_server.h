// A real nginx serving a directory on 127.0.0.1 for integration tests (repository, update
// flow): a private prefix, config and logs under a work directory, a port reserved among the
// suite's processes (PortReservation), stopped by the destructor.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "test_util.h"

namespace basalt::testing {

class NginxServer {
 public:
  // "" when nginx is not installed.
  static std::string Binary();
  // Serves `root`; `server_extra` is pasted into the server block (e.g. "limit_rate 4m;").
  // nullptr on failure; error.log under work_dir says why.
  static std::unique_ptr<NginxServer> Start(const std::string& root, const std::string& work_dir,
                                            const std::string& server_extra = "");
  ~NginxServer();
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  int port() const { return port_->port(); }
  pid_t pid() const { return pid_; }
  std::string url() const;  // "http://127.0.0.1:PORT"
  std::string access_log() const { return work_dir_ + "/access.log"; }

 private:
  NginxServer(pid_t pid, std::unique_ptr<PortReservation> port, std::string work_dir)
      : pid_(pid), port_(std::move(port)), work_dir_(std::move(work_dir)) {}
  pid_t pid_;
  std::unique_ptr<PortReservation> port_;
  std::string work_dir_;
};

}  // namespace basalt::testing
