// Helpers for the image integration tests: run a command, make the synthetic test tree, build.
#pragma once

#include <string>
#include <vector>

namespace basalt::image::testing {

struct CommandResult {
  int status = -1;     // exit status, or -1 when it did not exit normally
  std::string output;  // stdout + stderr
};

// Runs `sh -c command`.
CommandResult Sh(const std::string& command);
std::string Quote(const std::string& s);
bool HaveTool(const std::string& name);

// A fresh directory under /var/tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A small merged-/usr tree: busybox with suid, symlinks (relative and absolute), a hardlink,
// files owned by several users, a file capability, a user xattr, a device node, a fifo, a fake
// kernel in /boot, /etc, /var with a dpkg status database.
void MakeTestTree(const std::string& root);

std::string BasaltBin();

// The small partition sizes the tests use.
std::string SmallSizes();

}  // namespace basalt::image::testing
