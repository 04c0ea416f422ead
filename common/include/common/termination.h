// SIGTERM, SIGINT and SIGHUP end a `basalt` command without leaving its work behind: the
// directories and children registered here are removed and killed, then the process dies of
// the signal (so the caller sees the usual 128+N status).
//
// A signal is process-wide, so what it must clean up is too: the registry is the one piece of
// process-global state, reachable only through these RAII types. The signals are blocked in
// every thread and taken by one thread with sigwait, so the cleanup is ordinary code, not an
// async-signal handler. Children are started with an empty mask (common/subprocess.cc) and an
// exec must restore it too (RestoreSignalMask), so nothing inherits the blocked signals.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/error.h"

namespace basalt {

class TerminationCleanup {
 public:
  // Blocks the signals in the calling thread (call it first in main, before any thread starts)
  // and starts the thread that waits for them. Only the first instance in a process is active.
  TerminationCleanup();
  ~TerminationCleanup();
  TerminationCleanup(const TerminationCleanup&) = delete;
  TerminationCleanup& operator=(const TerminationCleanup&) = delete;
};

// Removes `path` (recursively) if a termination signal arrives while this object lives.
class RemoveOnTermination {
 public:
  RemoveOnTermination() = default;
  explicit RemoveOnTermination(std::string path);
  ~RemoveOnTermination();
  RemoveOnTermination(RemoveOnTermination&& other) noexcept;
  RemoveOnTermination& operator=(RemoveOnTermination&& other) noexcept;
  RemoveOnTermination(const RemoveOnTermination&) = delete;
  RemoveOnTermination& operator=(const RemoveOnTermination&) = delete;

 private:
  int id_ = 0;
};

// Kills `pid` with SIGKILL if a termination signal arrives while this object lives.
class KillOnTermination {
 public:
  explicit KillOnTermination(pid_t pid);
  ~KillOnTermination();
  KillOnTermination(const KillOnTermination&) = delete;
  KillOnTermination& operator=(const KillOnTermination&) = delete;

 private:
  int id_ = 0;
};

// Unblocks every signal in the calling thread: before an exec that replaces this process.
void RestoreSignalMask();

}  // namespace basalt
