#include "tool.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "common/fd.h"

extern char** environ;

namespace basalt::image {
namespace {

std::string LastLines(const std::string& out, size_t max_lines) {
  size_t end = out.size();
  while (end > 0 && out[end - 1] == '\n')
    --end;
  size_t pos = end;
  for (size_t n = 0; n < max_lines && pos > 0; ++n) {
    size_t nl = out.rfind('\n', pos - 1);
    pos = nl == std::string::npos ? 0 : nl;
    if (nl == std::string::npos) break;
  }
  std::string tail = out.substr(pos, end - pos);
  while (!tail.empty() && tail.front() == '\n')
    tail.erase(tail.begin());
  return tail;
}

}  // namespace

Result<std::string> FindTool(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
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

Result<std::string> RunTool(const ToolCommand& command) {
  if (command.argv.empty()) return Fail(ErrorKind::kInternal, "RunTool: empty command");
  BASALT_ASSIGN_OR_RETURN(std::string exe, FindTool(command.argv[0]));

  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : command.env)
    env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env)
    env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = command.argv;
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return FailErrno("pipe");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  write_end.Reset();
  if (rc != 0) return std::unexpected(Error::FromErrno(rc, "spawn " + exe));

  std::string output;
  char buf[8192];
  for (;;) {
    ssize_t n = read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return FailErrno("waitpid " + exe);
  }
  std::string cmdline;
  for (const auto& a : command.argv)
    cmdline += (cmdline.empty() ? "" : " ") + a;
  if (WIFSIGNALED(status)) {
    return Failf(ErrorKind::kIo, "{} was killed by signal {}: {}", cmdline, WTERMSIG(status),
                 LastLines(output, 5));
  }
  if (WEXITSTATUS(status) != 0) {
    return Failf(ErrorKind::kIo, "{} failed with exit status {}: {}", cmdline, WEXITSTATUS(status),
                 LastLines(output, 5));
  }
  return output;
}

}  // namespace basalt::image
