#include "image/initramfs_plan.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "common/fd.h"
#include "common/subprocess.h"
#include "elf_deps.h"
#include "init/modules_dep.h"

namespace basalt::boot {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLibDirs[] = {
    "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib"};

// Follows symlinks inside `root` the way the image would see them: absolute targets are
// re-rooted under `root`. Returns the host path of the final regular file, or nullopt.
std::optional<std::string> ResolveInRoot(const std::string& root, std::string rel) {
  for (int hops = 0; hops < 40; hops++) {
    std::string host = root + "/" + rel;
    struct stat st {};
    if (::lstat(host.c_str(), &st) != 0) return std::nullopt;
    if (S_ISREG(st.st_mode)) return host;
    if (!S_ISLNK(st.st_mode)) return std::nullopt;
    std::error_code ec;
    fs::path target = fs::read_symlink(host, ec);
    if (ec) return std::nullopt;
    fs::path next =
        target.is_absolute() ? target.relative_path() : fs::path(rel).parent_path() / target;
    rel = next.lexically_normal().string();
    if (rel.starts_with("..")) return std::nullopt;
  }
  return std::nullopt;
}

// Also resolves parent-directory symlinks (lib -> usr/lib) by trying each prefix.
std::optional<std::string> FindInRoot(const std::string& root, const std::string& rel) {
  if (auto p = ResolveInRoot(root, rel)) return p;
  // Parent symlinks: walk components.
  fs::path sofar;
  for (const auto& part : fs::path(rel)) {
    sofar /= part;
    std::string host = root + "/" + sofar.string();
    struct stat st {};
    if (::lstat(host.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      std::error_code ec;
      fs::path target = fs::read_symlink(host, ec);
      if (ec) return std::nullopt;
      fs::path base = target.is_absolute() ? target.relative_path() : sofar.parent_path() / target;
      fs::path rest = fs::path(rel).lexically_relative(sofar);
      return ResolveInRoot(root, (base / rest).lexically_normal().string());
    }
  }
  return std::nullopt;
}

class Planner {
 public:
  explicit Planner(const InitramfsSpec& spec) : spec_(spec) {}

  void Dir(const std::string& path) {
    fs::path p;
    for (const auto& part : fs::path(path)) {
      p /= part;
      if (dirs_.insert(p.string()).second) {
        entries_[p.string()] = {InitramfsEntry::Kind::kDirectory, p.string(), "", "", 0755};
      }
    }
  }
  void File(const std::string& path, const std::string& source, uint32_t mode) {
    Dir(fs::path(path).parent_path().string());
    entries_[path] = {InitramfsEntry::Kind::kFile, path, source, "", mode};
  }
  void Data(const std::string& path, std::string data, uint32_t mode) {
    Dir(fs::path(path).parent_path().string());
    entries_[path] = {InitramfsEntry::Kind::kFile, path, "", std::move(data), mode};
  }
  void Symlink(const std::string& path, const std::string& target) {
    Dir(fs::path(path).parent_path().string());
    entries_[path] = {InitramfsEntry::Kind::kSymlink, path, "", target, 0777};
  }
  void CharDevice(const std::string& path, uint32_t mode, uint32_t major, uint32_t minor) {
    Dir(fs::path(path).parent_path().string());
    entries_[path] = {InitramfsEntry::Kind::kCharDevice, path, "", "", mode, major, minor};
  }

  // Adds an executable and, transitively, the interpreter and libraries it needs.
  Status Executable(const std::string& path, const std::string& source) {
    File(path, source, 0755);
    return Libraries(source);
  }

  Status Libraries(const std::string& binary) {
    BASALT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(binary));
    auto deps = ReadElfDeps(bytes);
    if (!deps) return std::unexpected(std::move(deps).error().WithContext(binary));
    if (!deps->interpreter.empty() && !entries_.count(deps->interpreter.substr(1))) {
      std::string rel = deps->interpreter.substr(1);
      BASALT_ASSIGN_OR_RETURN(std::string src, Find(rel, binary));
      File(rel, src, 0755);
    }
    for (const std::string& soname : deps->needed) {
      std::string dest = std::string("lib/x86_64-linux-gnu/") + soname;
      if (entries_.count(dest)) continue;
      std::optional<std::string> src;
      for (const std::string& root : {spec_.tree, spec_.host_root}) {
        for (const char* dir : kLibDirs) {
          if ((src = FindInRoot(root, std::string(dir) + "/" + soname))) break;
        }
        if (src) break;
      }
      if (!src) {
        return Failf(ErrorKind::kNotFound, "{} needs {}, found neither in the tree nor on the host",
                     binary, soname);
      }
      File(dest, *src, 0755);
      BASALT_RETURN_IF_ERROR(Libraries(*src));
    }
    return {};
  }

  Result<std::string> Find(const std::string& rel, const std::string& why) {
    for (const std::string& root : {spec_.tree, spec_.host_root}) {
      if (auto p = FindInRoot(root, rel)) return *p;
    }
    return Failf(ErrorKind::kNotFound, "{} needs /{}, found neither in the tree nor on the host",
                 why, rel);
  }

  std::vector<InitramfsEntry> Finish() {
    // std::map orders "a" before "a/b": parents come first.
    std::vector<InitramfsEntry> out;
    for (auto& [_, e] : entries_)
      out.push_back(std::move(e));
    return out;
  }

 private:
  const InitramfsSpec& spec_;
  std::set<std::string> dirs_;
  std::map<std::string, InitramfsEntry> entries_;
};

// modules.dep for the tree's kernel: the tree's own if it has one, else depmod -b over a
// scratch directory of symlinks, so the tree is never written to.
Result<std::string> ModulesDep(const std::string& moddir, const std::string& version) {
  if (auto text = ReadFileToString(moddir + "/modules.dep")) return text;
  char tmpl[] = "/tmp/basalt-depmod-XXXXXX";
  if (!::mkdtemp(tmpl)) return FailErrno("mkdtemp");
  std::string scratch = tmpl;
  std::string target = scratch + "/lib/modules/" + version;
  std::error_code ec;
  fs::create_directories(target, ec);
  for (auto it = fs::recursive_directory_iterator(moddir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file() || it->path().string().find(".ko") == std::string::npos) continue;
    fs::path rel = it->path().lexically_relative(moddir);
    fs::create_directories(fs::path(target) / rel.parent_path(), ec);
    fs::create_symlink(it->path(), fs::path(target) / rel, ec);
  }
  auto r = RunCommandOk({"depmod", "-b", scratch, version});
  Result<std::string> text = r ? ReadFileToString(target + "/modules.dep")
                               : Result<std::string>(std::unexpected(r.error()));
  fs::remove_all(scratch, ec);
  return text;
}

}  // namespace

Result<std::vector<InitramfsEntry>> PlanInitramfs(const InitramfsSpec& spec) {
  Planner p(spec);
  for (const char* d : {"bin", "dev", "etc", "proc", "run", "sys", "sysroot", "tmp"})
    p.Dir(d);
  p.CharDevice("dev/console", 0600, 5, 1);
  p.CharDevice("dev/null", 0666, 1, 3);
  p.CharDevice("dev/kmsg", 0644, 1, 11);
  BASALT_RETURN_IF_ERROR(p.Executable("init", spec.basalt_init));

  for (const char* candidate : {"usr/bin/busybox", "bin/busybox", "usr/sbin/busybox"}) {
    if (auto src = FindInRoot(spec.tree, candidate)) {
      BASALT_RETURN_IF_ERROR(p.Executable("bin/busybox", *src));
      p.Symlink("bin/sh", "busybox");
      break;
    }
  }
  for (const char* candidate : {"usr/sbin/resize2fs", "sbin/resize2fs"}) {
    if (auto src = FindInRoot(spec.tree, candidate)) {
      BASALT_RETURN_IF_ERROR(p.Executable("bin/resize2fs", *src));
      break;
    }
  }

  std::string moddir;
  for (const char* base : {"usr/lib/modules/", "lib/modules/"}) {
    std::string d = spec.tree + "/" + base + spec.kernel_version;
    if (fs::is_directory(d)) {
      moddir = d;
      break;
    }
  }
  if (moddir.empty()) {
    return Failf(ErrorKind::kNotFound, "the tree has no modules for kernel {}",
                 spec.kernel_version);
  }
  BASALT_ASSIGN_OR_RETURN(std::string dep_text, ModulesDep(moddir, spec.kernel_version));
  BASALT_ASSIGN_OR_RETURN(init::ModuleGraph graph, init::ParseModulesDep(dep_text));
  BASALT_ASSIGN_OR_RETURN(init::LoadPlan plan, init::PlanModuleLoad(graph, spec.modules));
  std::string dep_out;
  std::string mod_prefix = "lib/modules/" + spec.kernel_version + "/";
  for (const std::string& rel : plan.paths) {
    p.File(mod_prefix + rel, moddir + "/" + rel, 0644);
    const init::ModuleInfo& info = graph.at(init::ModuleName(rel));
    dep_out += rel + ":";
    for (const std::string& dep : info.deps)
      dep_out += " " + graph.at(dep).path;
    dep_out += "\n";
  }
  std::sort(plan.paths.begin(), plan.paths.end());
  p.Data(mod_prefix + "modules.dep", dep_out, 0644);
  return p.Finish();
}

}  // namespace basalt::boot
