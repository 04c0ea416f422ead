// Helpers every test binary shares (linked into each by basalt_add_gtest). Tests may throw: these
// run only inside gtest, where an exception fails the test with its message.
#pragma once

#include <string>
#include <vector>

namespace basalt::testing {

// A fresh directory, mode 0755 (tests drop privileges or run tools as other users), removed with
// its contents by the destructor. `base` defaults to $TMPDIR, then /tmp; tests that build disk
// images pass /var/tmp, which is on disk rather than tmpfs.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "basalt-test", const std::string& base = "");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int status = -1;     // exit status, or -1 if killed by a signal
  std::string output;  // stdout and stderr interleaved
};

// Runs `command` with /bin/sh.
CommandResult Sh(const std::string& command);

// Single-quotes `s` for /bin/sh.
std::string Quote(const std::string& s);

// Whether `name` is on PATH (with /usr/sbin and /sbin added, where mkfs and friends live).
bool HaveTool(const std::string& name);

// "" when every tool is present, otherwise the name of the first missing one.
std::string MissingTool(const std::vector<std::string>& tools);

// Writes `data` to `path`, creating parent directories.
void WriteFile(const std::string& path, const std::string& data);

// A TCP port on 127.0.0.1 for a server a test starts (nginx, etcd), reserved among the test
// processes of this machine until destroyed. Binding port 0 and closing the socket, then
// starting the server there, is not enough under `ctest -j`: two processes may be handed the
// same port, and the one whose server lost the race would talk to the other's. The reservation
// is an abstract unix socket named after the port (released by the kernel when the process
// dies, so a crashed test leaves nothing behind); every fixture of this suite takes one before
// it listens. A process outside the suite may still take the port before the server binds it:
// the server then fails to start and the fixture tries another port.
class PortReservation {
 public:
  PortReservation();  // throws when no port can be reserved
  // Reserves exactly `port`; throws when another reservation (any process) holds it.
  explicit PortReservation(int port);
  ~PortReservation();
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;
  int port() const { return port_; }

 private:
  bool Lock(int port);

  int lock_fd_ = -1;
  int port_ = 0;
};

// Whether something accepts TCP connections on 127.0.0.1:port.
bool PortOpen(int port);

}  // namespace basalt::testing
