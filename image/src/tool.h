// Runs the external filesystem builders (mkfs.erofs, mkfs.ext4, mkfs.fat, mtools, grub-mkimage)
// without a shell, so arguments need no quoting and a failure names the tool and its output.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace basalt::image {

struct ToolCommand {
  std::vector<std::string> argv;
  // Added to (or replacing in) the inherited environment, e.g. {"SOURCE_DATE_EPOCH", "0"}.
  std::vector<std::pair<std::string, std::string>> env;
};

// Runs the command, waits, and returns its combined stdout+stderr. A non-zero exit or a signal
// is an error whose message holds the command and the last lines it printed.
Result<std::string> RunTool(const ToolCommand& command);

// Looks `name` up in PATH (and the sbin directories, which unprivileged PATHs often lack).
Result<std::string> FindTool(const std::string& name);

}  // namespace basalt::image
