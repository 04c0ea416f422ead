// The one way Basalt runs another program (mkfs.*, mtools, grub-mkimage, depmod, resize2fs,
// fsck.fat, gzip, bsdiff): an argv vector and never a shell, an environment the caller states,
// stdin from a buffer or /dev/null, stdout and stderr captured, and a failure that names the
// program and how it ended (exit status or signal).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace basalt {

struct Command {
  Command(std::initializer_list<std::string> args) : argv(args) {}
  explicit Command(std::vector<std::string> args) : argv(std::move(args)) {}

  // argv[0] is a path, or a name looked up with FindProgram.
  std::vector<std::string> argv;
  // The child's environment is the caller's (kInherit: fakeroot and the locale pass through) or
  // nothing (kEmpty: output that must depend on the arguments alone), with `env` set on top.
  enum class BaseEnv { kInherit, kEmpty };
  BaseEnv base_env = BaseEnv::kInherit;
  std::vector<std::pair<std::string, std::string>> env;
  // The child's stdin; empty: /dev/null. Written through a socket with MSG_NOSIGNAL, so a child
  // that stops reading is reported, not a SIGPIPE for the caller.
  std::span<const uint8_t> input;
  enum class Stderr { kCapture, kMerge, kDiscard };
  Stderr stderr_mode = Stderr::kCapture;  // kMerge: into `out`, interleaved as written
  size_t max_output = 256ull << 20;       // more bytes of output is an error (the child is killed)
  // A child that neither reads nor writes for this long is killed; 0: wait forever.
  std::chrono::milliseconds stall_timeout{0};
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that ended it, or 0
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0; }
  std::string Ending() const;  // "exit 1" or "signal 9"
};

// `name` itself if it holds a '/', else the first executable `name` in PATH followed by the sbin
// directories (which unprivileged PATHs often lack). kNotFound names the Debian package hint.
Result<std::string> FindProgram(const std::string& name);

// Runs the command and waits for it. Fails if it cannot be started (kNotFound), stalls or writes
// more than max_output (it is killed); a non-zero exit or a signal is in the result.
Result<CommandResult> RunCommand(const Command& command);

// RunCommand, with a non-zero exit or a signal an error (kIo) that reads
// "<program> <first argument> failed (exit N): <its last lines of stderr, else stdout>".
Result<std::string> RunCommandOk(const Command& command);

// A program between two buffers, for tools whose exact output matters and that no library
// reproduces (GNU gzip's deflate, see payload/gzip_region.h): argv[0] must be an absolute path (the
// caller chooses the program, not PATH), the environment is empty and stderr discarded, so the
// output depends on the arguments and input alone; a child silent for two minutes is killed.
// Failures are kInternal errors naming the program.
Result<std::vector<uint8_t>> RunFilter(const std::vector<std::string>& argv,
                                       std::span<const uint8_t> input, size_t max_output);

}  // namespace basalt
