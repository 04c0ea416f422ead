#include "image/initramfs_plan.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/printable.h"
#include "common/root_dir.h"
#include "common/subprocess.h"
#include "elf_deps.h"
#include "init/modules_dep.h"

namespace basalt::boot {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLibDirs[] = {
    "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib"};

// Larger than any kernel module or library; a bound so a hostile tree cannot make us read a
// sparse 10 GiB "library" into memory.
constexpr uint64_t kMaxFileBytes = 256ull << 20;
constexpr uint64_t kMaxInitramfsBytes = 512ull << 20;

// A file found in the tree (or, for libraries, on the build host), with its bytes.
struct Found {
  std::string shown;  // where it came from, for messages and tests
  std::string bytes;
};

// `rel` inside `root`, resolved as the booted system would (symlinks stay inside the root);
// nullopt when it is absent or not a regular file there.
Result<std::optional<Found>> FindIn(const RootDir& root, const std::string& rel) {
  BASALT_ASSIGN_OR_RETURN(auto st, root.Stat(rel));
  if (!st || !S_ISREG(st->st_mode)) return std::optional<Found>();
  BASALT_ASSIGN_OR_RETURN(std::string bytes, root.ReadFile(rel, kMaxFileBytes));
  std::string shown = root.path() == "/" ? "/" + rel : root.path() + "/" + rel;
  return std::optional<Found>(Found{std::move(shown), std::move(bytes)});
}

class Planner {
 public:
  Planner(const RootDir& tree, const RootDir& host) : tree_(tree), host_(host) {}

  void Dir(const std::string& path) {
    fs::path p;
    for (const auto& part : fs::path(path)) {
      p /= part;
      if (dirs_.insert(p.string()).second) {
        entries_[p.string()] = {InitramfsEntry::Kind::kDirectory, p.string(), "", "", 0755};
      }
    }
  }
  void File(const std::string& path, Found found, uint32_t mode) {
    Dir(fs::path(path).parent_path().string());
    total_bytes_ += found.bytes.size();
    entries_[path] = {InitramfsEntry::Kind::kFile, path, std::move(found.shown),
                      std::move(found.bytes), mode};
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
  Status Executable(const std::string& path, Found found) {
    std::string bytes = found.bytes;
    std::string shown = found.shown;
    File(path, std::move(found), 0755);
    return Libraries(bytes, shown);
  }

  // The names come from an untrusted ELF file: the interpreter must be a clean absolute path and
  // every DT_NEEDED a plain file name, or a crafted binary could name any file on the host.
  Status Libraries(const std::string& bytes, const std::string& binary) {
    auto deps = ReadElfDeps(bytes);
    if (!deps) return std::unexpected(std::move(deps).error().WithContext(binary));
    if (!deps->interpreter.empty()) {
      if (deps->interpreter.front() != '/') {
        return Failf(ErrorKind::kInvalidInput, "{}: ELF interpreter '{}' is not an absolute path",
                     binary, Printable(deps->interpreter));
      }
      BASALT_ASSIGN_OR_RETURN(std::string rel, CleanRelativePath(deps->interpreter.substr(1),
                                                                 binary + ": ELF interpreter"));
      if (!entries_.count(rel)) {
        BASALT_ASSIGN_OR_RETURN(Found src, Find(rel, binary));
        File(rel, std::move(src), 0755);
      }
    }
    for (const std::string& soname : deps->needed) {
      BASALT_RETURN_IF_ERROR(CheckPlainName(soname, binary + ": DT_NEEDED"));
      std::string dest = std::string("lib/x86_64-linux-gnu/") + soname;
      if (entries_.count(dest)) continue;
      std::optional<Found> src;
      for (const RootDir* root : {&tree_, &host_}) {
        for (const char* dir : kLibDirs) {
          BASALT_ASSIGN_OR_RETURN(src, FindIn(*root, std::string(dir) + "/" + soname));
          if (src) break;
        }
        if (src) break;
      }
      if (!src) {
        return Failf(ErrorKind::kNotFound, "{} needs {}, found neither in the tree nor on the host",
                     binary, soname);
      }
      std::string lib_bytes = src->bytes;
      std::string lib_shown = src->shown;
      File(dest, std::move(*src), 0755);
      BASALT_RETURN_IF_ERROR(Libraries(lib_bytes, lib_shown));
    }
    return {};
  }

  Result<Found> Find(const std::string& rel, const std::string& why) {
    for (const RootDir* root : {&tree_, &host_}) {
      BASALT_ASSIGN_OR_RETURN(std::optional<Found> found, FindIn(*root, rel));
      if (found) return std::move(*found);
    }
    return Failf(ErrorKind::kNotFound, "{} needs /{}, found neither in the tree nor on the host",
                 why, rel);
  }

  // The whole initramfs is held in memory and goes to the ESP: a hostile tree must not make it
  // arbitrarily large (each file is bounded when read; this bounds their sum).
  Status CheckSize() const {
    if (total_bytes_ > kMaxInitramfsBytes) {
      return Failf(ErrorKind::kInvalidInput,
                   "the initramfs would hold {} bytes of files, more than the {} allowed",
                   total_bytes_, kMaxInitramfsBytes);
    }
    return {};
  }

  std::vector<InitramfsEntry> Finish() {
    // std::map orders "a" before "a/b": parents come first.
    std::vector<InitramfsEntry> out;
    for (auto& [_, e] : entries_)
      out.push_back(std::move(e));
    return out;
  }

 private:
  const RootDir& tree_;
  const RootDir& host_;
  uint64_t total_bytes_ = 0;
  std::set<std::string> dirs_;
  std::map<std::string, InitramfsEntry> entries_;
};

// Copies the module files (*.ko*) below `rel` out of the tree into `to`: regular files only,
// never through a link, so depmod reads exactly the bytes the initramfs will get.
Status CopyModules(const RootDir& tree, const std::string& rel, const std::string& to) {
  BASALT_ASSIGN_OR_RETURN(std::vector<std::string> names, tree.List(rel, Follow::kNever));
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return Failf(ErrorKind::kIo, "mkdir {}: {}", to, ec.message());
  for (const std::string& n : names) {
    BASALT_ASSIGN_OR_RETURN(auto st, tree.Stat(rel + "/" + n, Follow::kNever));
    if (!st) continue;
    if (S_ISDIR(st->st_mode)) {
      BASALT_RETURN_IF_ERROR(CopyModules(tree, rel + "/" + n, to + "/" + n));
    } else if (S_ISREG(st->st_mode) && n.find(".ko") != std::string::npos) {
      BASALT_ASSIGN_OR_RETURN(std::string bytes,
                              tree.ReadFile(rel + "/" + n, kMaxFileBytes, Follow::kNever));
      BASALT_RETURN_IF_ERROR(WriteFileAtomic(to + "/" + n, bytes, 0644));
    }
  }
  return {};
}

// modules.dep for the tree's kernel: the tree's own if it has one, else depmod -b over a scratch
// copy of the tree's modules, so the tree is never written to and depmod never follows its links.
Result<std::string> ModulesDep(const RootDir& tree, const std::string& moddir,
                               const std::string& version) {
  BASALT_ASSIGN_OR_RETURN(auto dep, tree.Stat(moddir + "/modules.dep"));
  if (dep) return tree.ReadFile(moddir + "/modules.dep", kMaxFileBytes);
  char tmpl[] = "/tmp/basalt-depmod-XXXXXX";
  if (!::mkdtemp(tmpl)) return FailErrno("mkdtemp");
  std::string scratch = tmpl;
  std::string target = scratch + "/lib/modules/" + version;
  Result<std::string> text = [&]() -> Result<std::string> {
    BASALT_RETURN_IF_ERROR(CopyModules(tree, moddir, target));
    BASALT_RETURN_IF_ERROR(RunCommandOk({"depmod", "-b", scratch, version}));
    return ReadFileToString(target + "/modules.dep");
  }();
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return text;
}

}  // namespace

Result<std::vector<InitramfsEntry>> PlanInitramfs(const InitramfsSpec& spec) {
  BASALT_RETURN_IF_ERROR(CheckPlainName(spec.kernel_version, "kernel version"));
  BASALT_ASSIGN_OR_RETURN(RootDir tree, RootDir::Open(spec.tree, "rootfs " + spec.tree));
  BASALT_ASSIGN_OR_RETURN(RootDir host, RootDir::Open(spec.host_root, "build host"));
  Planner p(tree, host);
  for (const char* d : {"bin", "dev", "etc", "proc", "run", "sys", "sysroot", "tmp"})
    p.Dir(d);
  p.CharDevice("dev/console", 0600, 5, 1);
  p.CharDevice("dev/null", 0666, 1, 3);
  p.CharDevice("dev/kmsg", 0644, 1, 11);
  BASALT_ASSIGN_OR_RETURN(std::string init_bytes, ReadFileToString(spec.basalt_init));
  BASALT_RETURN_IF_ERROR(p.Executable("init", Found{spec.basalt_init, std::move(init_bytes)}));

  for (const char* candidate : {"usr/bin/busybox", "bin/busybox", "usr/sbin/busybox"}) {
    BASALT_ASSIGN_OR_RETURN(std::optional<Found> src, FindIn(tree, candidate));
    if (src) {
      BASALT_RETURN_IF_ERROR(p.Executable("bin/busybox", std::move(*src)));
      p.Symlink("bin/sh", "busybox");
      break;
    }
  }
  for (const char* candidate : {"usr/sbin/resize2fs", "sbin/resize2fs"}) {
    BASALT_ASSIGN_OR_RETURN(std::optional<Found> src, FindIn(tree, candidate));
    if (src) {
      BASALT_RETURN_IF_ERROR(p.Executable("bin/resize2fs", std::move(*src)));
      break;
    }
  }

  std::string moddir;
  for (const char* base : {"usr/lib/modules/", "lib/modules/"}) {
    std::string d = base + spec.kernel_version;
    BASALT_ASSIGN_OR_RETURN(auto st, tree.Stat(d));
    if (st && S_ISDIR(st->st_mode)) {
      moddir = d;
      break;
    }
  }
  if (moddir.empty()) {
    return Failf(ErrorKind::kInvalidInput, "the tree has no modules for kernel {}",
                 spec.kernel_version);
  }
  BASALT_ASSIGN_OR_RETURN(std::string dep_text, ModulesDep(tree, moddir, spec.kernel_version));
  BASALT_ASSIGN_OR_RETURN(init::ModuleGraph graph, init::ParseModulesDep(dep_text));
  BASALT_ASSIGN_OR_RETURN(init::LoadPlan plan, init::PlanModuleLoad(graph, spec.modules));
  std::string dep_out;
  std::string mod_prefix = "lib/modules/" + spec.kernel_version + "/";
  for (const std::string& rel : plan.paths) {
    // rel is clean and relative (ParseModulesDep); the file is the tree's own, symlinks resolved
    // inside the tree.
    BASALT_ASSIGN_OR_RETURN(std::optional<Found> module, FindIn(tree, moddir + "/" + rel));
    if (!module) {
      return Failf(ErrorKind::kInvalidInput,
                   "rootfs {}: modules.dep names {}, which is not a regular file in the tree",
                   spec.tree, Printable(moddir + "/" + rel));
    }
    p.File(mod_prefix + rel, std::move(*module), 0644);
    BASALT_RETURN_IF_ERROR(p.CheckSize());
    const init::ModuleInfo& info = graph.at(init::ModuleName(rel));
    dep_out += rel + ":";
    for (const std::string& dep : info.deps)
      dep_out += " " + graph.at(dep).path;
    dep_out += "\n";
  }
  std::sort(plan.paths.begin(), plan.paths.end());
  p.Data(mod_prefix + "modules.dep", dep_out, 0644);
  BASALT_RETURN_IF_ERROR(p.CheckSize());
  return p.Finish();
}

}  // namespace basalt::boot
