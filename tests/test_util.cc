#include "test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace basalt::testing {

TempDir::TempDir(const std::string& prefix, const std::string& base) {
  std::string dir = base;
  if (dir.empty()) {
    const char* env = getenv("TMPDIR");
    dir = env != nullptr && *env != '\0' ? env : "/tmp";
  }
  std::string tmpl = dir + "/" + prefix + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  if (chmod(tmpl.c_str(), 0755) != 0) throw std::runtime_error("chmod " + tmpl + " failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult Sh(const std::string& command) {
  CommandResult r;
  std::string full = "(" + command + ") 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    r.output.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

bool HaveTool(const std::string& name) {
  return Sh("PATH=$PATH:/usr/sbin:/sbin command -v " + Quote(name)).status == 0;
}

std::string MissingTool(const std::vector<std::string>& tools) {
  for (const auto& t : tools) {
    if (!HaveTool(t)) return t;
  }
  return "";
}

void WriteFile(const std::string& path, const std::string& data) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("write " + path + " failed");
}

}  // namespace basalt::testing
