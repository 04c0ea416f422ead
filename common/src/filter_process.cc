#include "common/filter_process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "common/fd.h"

namespace basalt {
namespace {

// A filter that neither reads nor writes for this long is hung (gzip of a 64 MiB member takes
// a few seconds).
constexpr int kStallMs = 120'000;

// posix_spawn file actions, destroyed on every path.
class SpawnActions {
 public:
  SpawnActions() { posix_spawn_file_actions_init(&a_); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&a_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t* get() { return &a_; }

 private:
  posix_spawn_file_actions_t a_;
};

// The child starts with no signals blocked or ignored, whatever the caller (a daemon that
// blocks SIGTERM for its event loop) has set.
class SpawnAttributes {
 public:
  SpawnAttributes() {
    posix_spawnattr_init(&a_);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&a_, &none);
    posix_spawnattr_setsigdefault(&a_, &all);
    posix_spawnattr_setflags(&a_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnAttributes() { posix_spawnattr_destroy(&a_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  posix_spawnattr_t* get() { return &a_; }

 private:
  posix_spawnattr_t a_;
};

// Reaps the child on every path, so an early return leaves no zombie.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // The wait status, or -1 when there is none to read (SIGCHLD ignored by the caller).
  int Wait() {
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid_, &st, 0)) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return r < 0 ? -1 : st;
  }

 private:
  pid_t pid_;
};

}  // namespace

Result<std::vector<uint8_t>> RunFilter(const std::vector<std::string>& argv,
                                       std::span<const uint8_t> input, size_t max_output) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return Fail(ErrorKind::kInvalidInput, "filter program must be an absolute path");
  }
  const std::string& tool = argv[0];
  if (access(tool.c_str(), X_OK) != 0) return FailErrno(tool + " is not available");
  int in_pair[2], out_pipe[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0) {
    return FailErrno("socketpair for " + tool);
  }
  UniqueFd in_parent(in_pair[0]), in_child(in_pair[1]);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return FailErrno("pipe for " + tool);
  UniqueFd out_parent(out_pipe[0]), out_child(out_pipe[1]);
  // The child's end becomes its stdin, so the socket must not look like a bidirectional
  // channel to it: it only reads.
  shutdown(in_child.get(), SHUT_WR);

  SpawnActions actions;
  posix_spawn_file_actions_adddup2(actions.get(), in_child.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(actions.get(), out_child.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(actions.get(), STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char* no_env[] = {nullptr};
  pid_t pid;
  SpawnAttributes attrs;
  if (int e = posix_spawn(&pid, tool.c_str(), actions.get(), attrs.get(), args.data(), no_env);
      e != 0) {
    errno = e;
    return FailErrno("start " + tool);
  }
  Child child(pid);
  in_child.Reset();
  out_child.Reset();
  fcntl(in_parent.get(), F_SETFL, O_NONBLOCK);
  fcntl(out_parent.get(), F_SETFL, O_NONBLOCK);

  std::vector<uint8_t> out;
  size_t sent = 0;
  if (input.empty()) in_parent.Reset();
  std::vector<uint8_t> buf(1 << 16);
  while (out_parent.valid()) {
    pollfd fds[2] = {{out_parent.get(), POLLIN, 0}, {in_parent.get(), POLLOUT, 0}};
    const nfds_t n = in_parent.valid() ? 2 : 1;
    const int ready = poll(fds, n, kStallMs);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return FailErrno("poll " + tool);
    }
    if (ready == 0) {
      return Failf(ErrorKind::kInternal, "{} made no progress for {} s; killed", tool,
                   kStallMs / 1000);
    }
    if (n == 2 && fds[1].revents != 0) {
      ssize_t w = send(in_parent.get(), input.data() + sent,
                       std::min<size_t>(input.size() - sent, 1 << 16), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EINTR) {
        // The child stopped reading (it exited or closed stdin): its exit status says why,
        // below; the unsent input is reported if it exited 0.
        in_parent.Reset();
        continue;
      }
      if (w > 0) sent += static_cast<size_t>(w);
      if (sent == input.size()) in_parent.Reset();  // EOF for the child
    }
    if (fds[0].revents != 0) {
      ssize_t r = read(out_parent.get(), buf.data(), buf.size());
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return FailErrno("read from " + tool);
      }
      if (r == 0) {
        out_parent.Reset();
        break;
      }
      if (out.size() + static_cast<size_t>(r) > max_output) {
        return Failf(ErrorKind::kInvalidInput, "{} wrote more than {} bytes", tool, max_output);
      }
      out.insert(out.end(), buf.begin(), buf.begin() + r);
    }
  }
  const int st = child.Wait();
  if (st < 0) return FailErrno("wait for " + tool);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    return Failf(ErrorKind::kInternal, "{} failed ({})", tool,
                 WIFEXITED(st) ? fmt::format("exit {}", WEXITSTATUS(st))
                               : fmt::format("signal {}", WTERMSIG(st)));
  }
  if (sent != input.size()) {
    return Failf(ErrorKind::kInternal, "{} exited before reading all its input", tool);
  }
  return out;
}

}  // namespace basalt
