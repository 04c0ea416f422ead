// Runs a helper tool (mtools, resize2fs) with an argv vector, no shell, and captures its
// output, so a failure can be reported with the tool's own message.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace basalt {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// Fails only if the program cannot be started; a non-zero exit is in the result.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& extra_env = {});

// RunCommand, turning a non-zero exit into an error quoting the first line of stderr.
Result<std::string> RunCommandOk(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& extra_env = {});

}  // namespace basalt
