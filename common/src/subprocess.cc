#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.h"

extern char** environ;

namespace basalt {
namespace {

Status MakePipe(UniqueFd& r, UniqueFd& w) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return FailErrno("pipe2");
  r.Reset(fds[0]);
  w.Reset(fds[1]);
  return {};
}

std::string FirstLine(const std::string& s) {
  size_t start = s.find_first_not_of("\n ");
  if (start == std::string::npos) return "";
  size_t nl = s.find('\n', start);
  return s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
}

}  // namespace

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& extra_env) {
  if (argv.empty()) return Fail(ErrorKind::kInternal, "RunCommand: empty argv");
  UniqueFd out_r, out_w, err_r, err_w;
  BASALT_RETURN_IF_ERROR(MakePipe(out_r, out_w));
  BASALT_RETURN_IF_ERROR(MakePipe(err_r, err_w));

  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; e++)
    env_storage.emplace_back(*e);
  for (const std::string& e : extra_env)
    env_storage.push_back(e);
  std::vector<char*> envp;
  for (std::string& e : env_storage)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), STDERR_FILENO);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Failf(ErrorKind::kNotFound, "cannot run {}: {}", argv[0], std::strerror(rc));
  }
  out_w.Reset();
  err_w.Reset();

  CommandResult result;
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  char buf[65536];
  while (open_count > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        open_count--;
        continue;
      }
      sinks[i]->append(buf, static_cast<size_t>(n));
    }
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return FailErrno(fmt::format("waitpid {}", argv[0]));
  }
  result.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  return result;
}

Result<std::string> RunCommandOk(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& extra_env) {
  BASALT_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, extra_env));
  if (r.exit_code != 0) {
    std::string why = FirstLine(r.err);
    if (why.empty()) why = FirstLine(r.out);
    return Failf(ErrorKind::kIo, "{} {} failed (exit {}): {}", argv[0],
                 argv.size() > 1 ? argv[1] : "", r.exit_code, why);
  }
  return std::move(r.out);
}

}  // namespace basalt
