#include "common/termination.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace basalt {
namespace {

constexpr int kSignals[] = {SIGTERM, SIGINT, SIGHUP};

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kSignals)
    sigaddset(&set, s);
  return set;
}

// What a termination signal must undo. Entries come and go with the RAII objects above.
struct Registry {
  std::mutex mu;
  int next_id = 1;
  std::map<int, std::string> paths;
  std::map<int, pid_t> children;
  bool active = false;
};

Registry& TheRegistry() {
  static Registry r;  // intentionally process-global: a signal is (see the header)
  return r;
}

[[noreturn]] void CleanUpAndDie(int sig) {
  Registry& r = TheRegistry();
  {
    std::lock_guard lock(r.mu);
    // Children first, so none keeps writing into a directory being removed.
    for (const auto& [id, pid] : r.children)
      ::kill(pid, SIGKILL);
    for (const auto& [id, path] : r.paths) {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  }
  // Die of the signal itself, as an unhandled one would, so shells report 128+N.
  ::signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  ::raise(sig);
  ::_exit(128 + sig);
}

int RegisterPath(std::string path) {
  Registry& r = TheRegistry();
  std::lock_guard lock(r.mu);
  int id = r.next_id++;
  r.paths.emplace(id, std::move(path));
  return id;
}

int RegisterChild(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard lock(r.mu);
  int id = r.next_id++;
  r.children.emplace(id, pid);
  return id;
}

void Unregister(int id) {
  if (id == 0) return;
  Registry& r = TheRegistry();
  std::lock_guard lock(r.mu);
  r.paths.erase(id);
  r.children.erase(id);
}

}  // namespace

TerminationCleanup::TerminationCleanup() {
  Registry& r = TheRegistry();
  {
    std::lock_guard lock(r.mu);
    if (r.active) return;
    r.active = true;
  }
  sigset_t set = TerminationSignals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // Detached: it lives as long as the process and only ever ends it.
  std::thread([set] {
    int sig = 0;
    while (::sigwait(&set, &sig) != 0) {
    }
    CleanUpAndDie(sig);
  }).detach();
}

TerminationCleanup::~TerminationCleanup() = default;

RemoveOnTermination::RemoveOnTermination(std::string path) : id_(RegisterPath(std::move(path))) {}

RemoveOnTermination::~RemoveOnTermination() {
  Unregister(id_);
}

RemoveOnTermination::RemoveOnTermination(RemoveOnTermination&& other) noexcept
    : id_(std::exchange(other.id_, 0)) {}

RemoveOnTermination& RemoveOnTermination::operator=(RemoveOnTermination&& other) noexcept {
  if (this != &other) {
    Unregister(id_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

KillOnTermination::KillOnTermination(pid_t pid) : id_(RegisterChild(pid)) {}

KillOnTermination::~KillOnTermination() {
  Unregister(id_);
}

void RestoreSignalMask() {
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace basalt
