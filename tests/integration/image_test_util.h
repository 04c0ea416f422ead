// Helpers for the image integration tests: run a command, make the synthetic test tree, build.
#pragma once

#include <string>
#include <vector>

#include "test_util.h"

namespace basalt::image::testing {

using basalt::testing::CommandResult;
using basalt::testing::HaveTool;
using basalt::testing::Quote;
using basalt::testing::Sh;

// Disk images are large and sparse: keep them on /var/tmp, which is on disk rather than tmpfs.
class TempDir : public basalt::testing::TempDir {
 public:
  TempDir() : basalt::testing::TempDir("basalt-image-test", "/var/tmp") {}
};

// A small merged-/usr tree: busybox with suid, symlinks (relative and absolute), a hardlink,
// files owned by several users, a file capability, a user xattr, a device node, a fifo, a fake
// kernel in /boot, /etc, /var with a dpkg status database.
void MakeTestTree(const std::string& root);

std::string BasaltBin();

// The small partition sizes the tests use.
std::string SmallSizes();

}  // namespace basalt::image::testing
