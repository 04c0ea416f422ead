#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>

#include "common/fd.h"
#include "common/termination.h"

extern char** environ;

namespace basalt {
namespace {

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

// Reaps the child on every path, so an early return leaves neither a zombie nor a runaway.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid), kill_on_termination_(pid) {}
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
  KillOnTermination kill_on_termination_;  // a SIGTERM of ours must not leave it running
};

Status MakePipe(UniqueFd& r, UniqueFd& w, std::string_view what) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return FailErrno(fmt::format("pipe for {}", what));
  r.Reset(fds[0]);
  w.Reset(fds[1]);
  return {};
}

// The environment strings of a command, sorted by name so a child sees one order.
std::vector<std::string> Environment(const Command& c) {
  std::map<std::string, std::string> env;
  if (c.base_env == Command::BaseEnv::kInherit) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view kv = *e;
      size_t eq = kv.find('=');
      if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
    }
  }
  for (const auto& [k, v] : c.env)
    env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env)
    out.push_back(k + "=" + v);
  return out;
}

// Up to `max_lines` last non-empty lines of `text`, joined with "; ", so a tool's complaint fits
// on the one error line.
std::string LastLines(std::string_view text, size_t max_lines) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
      line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  std::string out;
  for (size_t i = lines.size() > max_lines ? lines.size() - max_lines : 0; i < lines.size(); ++i) {
    if (!out.empty()) out += "; ";
    out += lines[i];
  }
  return out;
}

std::string ProgramAndVerb(const std::vector<std::string>& argv) {
  return argv.size() > 1 ? argv[0] + " " + argv[1] : argv[0];
}

}  // namespace

std::string CommandResult::Ending() const {
  return signal != 0 ? fmt::format("signal {}", signal) : fmt::format("exit {}", exit_code);
}

Result<std::string> FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* env_path = std::getenv("PATH");
  std::string path = env_path != nullptr ? env_path : "/usr/bin:/bin";
  path += ":/usr/sbin:/sbin:/usr/local/sbin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t colon = path.find(':', start);
    if (colon == std::string::npos) colon = path.size();
    std::string dir = path.substr(start, colon - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = colon + 1;
  }
  return Failf(ErrorKind::kNotFound, "{} not found in PATH (install its Debian package)", name);
}

Result<CommandResult> RunCommand(const Command& c) {
  if (c.argv.empty() || c.argv[0].empty()) return Fail(ErrorKind::kInternal, "empty command");
  const std::string& name = c.argv[0];
  BASALT_ASSIGN_OR_RETURN(std::string exe, FindProgram(name));
  if (access(exe.c_str(), X_OK) != 0) {
    return std::unexpected(
        Error(ErrorKind::kNotFound, fmt::format("cannot run {}: {}", exe, std::strerror(errno))));
  }

  UniqueFd in_parent, in_child, out_r, out_w, err_r, err_w;
  if (!c.input.empty()) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      return FailErrno("socketpair for " + name);
    }
    in_parent.Reset(pair[0]);
    in_child.Reset(pair[1]);
    // The child's end becomes its stdin: it must not look like a channel to write back on.
    shutdown(in_child.get(), SHUT_WR);
  }
  BASALT_RETURN_IF_ERROR(MakePipe(out_r, out_w, name));
  if (c.stderr_mode == Command::Stderr::kCapture)
    BASALT_RETURN_IF_ERROR(MakePipe(err_r, err_w, name));

  SpawnActions actions;
  if (in_child) {
    posix_spawn_file_actions_adddup2(actions.get(), in_child.get(), STDIN_FILENO);
  } else {
    posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(actions.get(), out_w.get(), STDOUT_FILENO);
  switch (c.stderr_mode) {
    case Command::Stderr::kCapture:
      posix_spawn_file_actions_adddup2(actions.get(), err_w.get(), STDERR_FILENO);
      break;
    case Command::Stderr::kMerge:
      posix_spawn_file_actions_adddup2(actions.get(), out_w.get(), STDERR_FILENO);
      break;
    case Command::Stderr::kDiscard:
      posix_spawn_file_actions_addopen(actions.get(), STDERR_FILENO, "/dev/null", O_WRONLY, 0);
      break;
  }
  std::vector<char*> args;
  for (const auto& a : c.argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings = Environment(c);
  std::vector<char*> envp;
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  SpawnAttributes attrs;
  pid_t pid = -1;
  if (int e = posix_spawn(&pid, exe.c_str(), actions.get(), attrs.get(), args.data(), envp.data());
      e != 0) {
    return std::unexpected(
        Error(ErrorKind::kNotFound, fmt::format("cannot run {}: {}", exe, std::strerror(e)), e));
  }
  Child child(pid);
  in_child.Reset();
  out_w.Reset();
  err_w.Reset();
  for (const UniqueFd* fd : {&in_parent, &out_r, &err_r}) {
    if (fd->valid()) fcntl(fd->get(), F_SETFL, O_NONBLOCK);
  }

  CommandResult result;
  size_t sent = 0;
  std::vector<char> buf(1 << 16);
  const int timeout_ms =
      c.stall_timeout.count() > 0 ? static_cast<int>(c.stall_timeout.count()) : -1;
  while (out_r.valid() || err_r.valid()) {
    pollfd fds[3] = {
        {out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}, {in_parent.get(), POLLOUT, 0}};
    const int ready = poll(fds, 3, timeout_ms);  // poll ignores the entries whose fd is -1
    if (ready < 0) {
      if (errno == EINTR) continue;
      return FailErrno("poll " + name);
    }
    if (ready == 0) {
      return Failf(ErrorKind::kIo, "{} made no progress for {} s; killed", name,
                   c.stall_timeout.count() / 1000);
    }
    if (fds[2].revents != 0) {
      ssize_t w = send(in_parent.get(), c.input.data() + sent,
                       std::min<size_t>(c.input.size() - sent, 1 << 16), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EINTR) {
        // The child stopped reading (it exited or closed stdin): its exit status says why.
        in_parent.Reset();
      } else {
        if (w > 0) sent += static_cast<size_t>(w);
        if (sent == c.input.size()) in_parent.Reset();  // EOF for the child
      }
    }
    for (int i = 0; i < 2; ++i) {
      UniqueFd& fd = i == 0 ? out_r : err_r;
      if (!fd.valid() || fds[i].revents == 0) continue;
      ssize_t r = read(fd.get(), buf.data(), buf.size());
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return FailErrno("read from " + name);
      }
      if (r == 0) {
        fd.Reset();
        continue;
      }
      std::string& sink = i == 0 ? result.out : result.err;
      if (result.out.size() + result.err.size() + static_cast<size_t>(r) > c.max_output) {
        return Failf(ErrorKind::kInvalidInput, "{} wrote more than {} bytes", name, c.max_output);
      }
      sink.append(buf.data(), static_cast<size_t>(r));
    }
  }
  in_parent.Reset();
  const int st = child.Wait();
  if (st < 0) return FailErrno("wait for " + name);
  if (WIFSIGNALED(st)) {
    result.signal = WTERMSIG(st);
  } else {
    result.exit_code = WEXITSTATUS(st);
  }
  if (result.ok() && sent != c.input.size()) {
    return Failf(ErrorKind::kIo, "{} exited before reading all its input", name);
  }
  return result;
}

Result<std::string> RunCommandOk(const Command& c) {
  BASALT_ASSIGN_OR_RETURN(CommandResult r, RunCommand(c));
  if (!r.ok()) {
    std::string why = LastLines(r.err, 3);
    if (why.empty()) why = LastLines(r.out, 3);
    return Failf(ErrorKind::kIo, "{} failed ({}){}{}", ProgramAndVerb(c.argv), r.Ending(),
                 why.empty() ? "" : ": ", why);
  }
  return std::move(r.out);
}

Result<std::vector<uint8_t>> RunFilter(const std::vector<std::string>& argv,
                                       std::span<const uint8_t> input, size_t max_output) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return Fail(ErrorKind::kInvalidInput, "filter program must be an absolute path");
  }
  const std::string& tool = argv[0];
  if (access(tool.c_str(), X_OK) != 0) return FailErrno(tool + " is not available");
  Command c(argv);
  c.base_env = Command::BaseEnv::kEmpty;
  c.input = input;
  c.stderr_mode = Command::Stderr::kDiscard;
  c.max_output = max_output;
  // gzip of a 64 MiB member takes a few seconds.
  c.stall_timeout = std::chrono::minutes(2);
  auto r = RunCommand(c);
  if (!r) {
    if (r.error().kind() == ErrorKind::kInvalidInput) return std::unexpected(r.error());
    return std::unexpected(Error(ErrorKind::kInternal, r.error().message()));
  }
  if (!r->ok()) return Failf(ErrorKind::kInternal, "{} failed ({})", tool, r->Ending());
  return std::vector<uint8_t>(r->out.begin(), r->out.end());
}

}  // namespace basalt
