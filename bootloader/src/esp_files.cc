#include "esp_files.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/subprocess.h"
#include "fat_repair.h"

namespace basalt::boot {
namespace {

namespace fs = std::filesystem;

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

class DirectoryEsp final : public EspFiles {
 public:
  explicit DirectoryEsp(std::string root) : root_(std::move(root)) {}
  std::string Describe() const override { return root_; }

  Result<std::optional<std::string>> Read(const std::string& path) override {
    std::error_code ec;
    if (!fs::exists(Full(path), ec)) return std::optional<std::string>();
    BASALT_ASSIGN_OR_RETURN(std::string data, ReadFileToString(Full(path)));
    return std::optional<std::string>(std::move(data));
  }
  Status Write(const std::string& path, std::string_view data) override {
    BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(Full(path), O_WRONLY | O_CREAT | O_TRUNC));
    return WriteFull(fd.get(), {reinterpret_cast<const uint8_t*>(data.data()), data.size()},
                     Full(path));
  }
  Status WriteFromFile(const std::string& path, const std::string& local_file) override {
    std::error_code ec;
    fs::copy_file(local_file, Full(path), fs::copy_options::overwrite_existing, ec);
    if (ec) return Failf(ErrorKind::kIo, "copy {} to {}: {}", local_file, Full(path), ec.message());
    return {};
  }
  Status Rename(const std::string& from, const std::string& to) override {
    std::error_code ec;
    if (fs::exists(Full(to), ec)) {
      return Failf(ErrorKind::kIo, "rename {}: target {} exists", Full(from), Full(to));
    }
    if (::rename(Full(from).c_str(), Full(to).c_str()) != 0) {
      return FailErrno(fmt::format("rename {} to {}", Full(from), Full(to)));
    }
    return {};
  }
  Status Remove(const std::string& path) override {
    if (::unlink(Full(path).c_str()) != 0 && errno != ENOENT) {
      return FailErrno(fmt::format("remove {}", Full(path)));
    }
    return {};
  }
  Result<std::vector<std::string>> List(const std::string& dir) override {
    std::vector<std::string> names;
    std::error_code ec;
    if (!fs::is_directory(Full(dir), ec)) return names;
    for (const auto& entry : fs::directory_iterator(Full(dir), ec)) {
      if (entry.is_regular_file()) names.push_back(entry.path().filename().string());
    }
    if (ec) return Failf(ErrorKind::kIo, "list {}: {}", Full(dir), ec.message());
    return names;
  }
  Status MakeDirs(const std::string& dir) override {
    std::error_code ec;
    fs::create_directories(Full(dir), ec);
    if (ec) return Failf(ErrorKind::kIo, "mkdir {}: {}", Full(dir), ec.message());
    return {};
  }
  Status Sync() override {
    // syncfs on the ESP's filesystem flushes data and directory entries alike.
    BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(root_, O_RDONLY | O_DIRECTORY));
    if (::syncfs(fd.get()) != 0) return FailErrno(fmt::format("syncfs {}", root_));
    return {};
  }

 private:
  std::string Full(const std::string& path) const { return root_ + path; }
  std::string root_;
};

class MtoolsEsp final : public EspFiles {
 public:
  MtoolsEsp(std::string image, uint64_t offset, uint64_t size)
      : image_(std::move(image)),
        offset_(offset),
        size_(size),
        spec_(fmt::format("{}@@{}", image_, offset)) {}
  std::string Describe() const override { return spec_; }

  Result<std::optional<std::string>> Read(const std::string& path) override {
    BASALT_ASSIGN_OR_RETURN(bool exists, Exists(path));
    if (!exists) return std::optional<std::string>();
    BASALT_ASSIGN_OR_RETURN(std::string data, Run({"mcopy", "-n", "-i", spec_, "::" + path, "-"}));
    return std::optional<std::string>(std::move(data));
  }
  Status Write(const std::string& path, std::string_view data) override {
    // mcopy reads from a file; a private temp file keeps binary data exact.
    char tmpl[] = "/tmp/basalt-esp-XXXXXX";
    int raw = ::mkstemp(tmpl);
    if (raw < 0) return FailErrno("mkstemp");
    UniqueFd fd(raw);
    Status st =
        WriteFull(fd.get(), {reinterpret_cast<const uint8_t*>(data.data()), data.size()}, tmpl);
    if (st) st = WriteFromFile(path, tmpl);
    ::unlink(tmpl);
    return st;
  }
  Status WriteFromFile(const std::string& path, const std::string& local_file) override {
    BASALT_RETURN_IF_ERROR(CheckBeforeWriting());
    return Discard(Run({"mcopy", "-o", "-i", spec_, local_file, "::" + path}));
  }
  Status Rename(const std::string& from, const std::string& to) override {
    BASALT_RETURN_IF_ERROR(CheckBeforeWriting());
    BASALT_ASSIGN_OR_RETURN(bool exists, Exists(to));
    if (exists) return Failf(ErrorKind::kIo, "rename {}: target {} exists", from, to);
    return Discard(Run({"mren", "-i", spec_, "::" + from, "::" + to}));
  }
  Status Remove(const std::string& path) override {
    BASALT_RETURN_IF_ERROR(CheckBeforeWriting());
    BASALT_ASSIGN_OR_RETURN(bool exists, Exists(path));
    if (!exists) return {};
    return Discard(Run({"mdel", "-i", spec_, "::" + path}));
  }
  Result<std::vector<std::string>> List(const std::string& dir) override {
    std::vector<std::string> names;
    BASALT_ASSIGN_OR_RETURN(CommandResult r,
                            RunCommand(Mtools({"mdir", "-b", "-i", spec_, "::" + dir + "/"})));
    if (r.exit_code != 0) {
      if (r.err.find("not found") != std::string::npos) return names;
      return Failf(ErrorKind::kIo, "mdir {} on {}: {}", dir, spec_, r.err);
    }
    size_t pos = 0;
    while (pos < r.out.size()) {
      size_t nl = r.out.find('\n', pos);
      if (nl == std::string::npos) nl = r.out.size();
      std::string line = r.out.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.empty() || line.back() == '/') continue;  // subdirectories end in '/'
      size_t slash = line.rfind('/');
      names.push_back(slash == std::string::npos ? line : line.substr(slash + 1));
    }
    return names;
  }
  Status MakeDirs(const std::string& dir) override {
    BASALT_RETURN_IF_ERROR(CheckBeforeWriting());
    std::string sofar;
    size_t pos = 1;
    while (pos <= dir.size()) {
      size_t slash = dir.find('/', pos);
      if (slash == std::string::npos) slash = dir.size();
      sofar = dir.substr(0, slash);
      pos = slash + 1;
      BASALT_ASSIGN_OR_RETURN(CommandResult r,
                              RunCommand(Mtools({"mdir", "-b", "-i", spec_, "::" + sofar + "/"})));
      if (r.exit_code == 0) continue;
      BASALT_RETURN_IF_ERROR(Discard(Run({"mmd", "-i", spec_, "::" + sofar})));
    }
    return {};
  }
  Status Sync() override {
    BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(image_, O_RDWR));
    if (::fsync(fd.get()) != 0) return FailErrno(fmt::format("fsync {}", image_));
    return {};
  }

 private:
  // mtools on a partition inside a disk image: its geometry checks do not apply.
  static Command Mtools(std::vector<std::string> argv) {
    Command c(std::move(argv));
    c.env = {{"MTOOLS_SKIP_CHECK", "1"}};
    return c;
  }
  // Once per session, before its first change: an earlier session may have been killed inside
  // an mtools call (see fat_repair.h).
  Status CheckBeforeWriting() {
    if (checked_) return {};
    auto repaired = RepairFat(image_, offset_, size_);
    if (!repaired) {
      return std::unexpected(std::move(repaired).error().WithContext(
          fmt::format("check the ESP {} with fsck.fat (dosfstools) before writing it", spec_)));
    }
    if (!repaired->empty()) {
      // No logger reaches here; the daemon's stderr goes to its journal.
      fmt::print(stderr, "basalt: repaired the ESP {} after an interrupted write: {}\n", spec_,
                 *repaired);
    }
    checked_ = true;
    return {};
  }
  Result<std::string> Run(const std::vector<std::string>& argv) {
    auto r = RunCommandOk(Mtools(argv));
    if (!r) return std::unexpected(std::move(r).error().WithContext(spec_));
    return r;
  }
  static Status Discard(Result<std::string> r) {
    if (!r) return std::unexpected(r.error());
    return {};
  }
  Result<bool> Exists(const std::string& path) {
    BASALT_ASSIGN_OR_RETURN(std::vector<std::string> names, List(Parent(path)));
    std::string name = path.substr(path.rfind('/') + 1);
    // FAT names are case-insensitive, and mren stores an 8.3 target like "A.cfg" as "A.CFG".
    for (const std::string& n : names) {
      if (strcasecmp(n.c_str(), name.c_str()) == 0) return true;
    }
    return false;
  }

  std::string image_;
  uint64_t offset_;
  uint64_t size_;
  std::string spec_;
  bool checked_ = false;
};

Status ReplaceWith(EspFiles& esp, const std::string& path,
                   const std::function<Status(const std::string&)>& write_new) {
  const std::string fresh = path + ".new";
  const std::string old = path + ".old";
  BASALT_RETURN_IF_ERROR(esp.MakeDirs(Parent(path)));
  BASALT_RETURN_IF_ERROR(esp.Remove(fresh));
  BASALT_RETURN_IF_ERROR(write_new(fresh));
  BASALT_RETURN_IF_ERROR(esp.Sync());
  BASALT_ASSIGN_OR_RETURN(std::optional<std::string> current, esp.Read(path));
  if (current) {
    BASALT_RETURN_IF_ERROR(esp.Remove(old));
    BASALT_RETURN_IF_ERROR(esp.Rename(path, old));
    BASALT_RETURN_IF_ERROR(esp.Sync());
  }
  // Without `path`, a leftover path.old from an interrupted earlier replace stays until the
  // new file is in place, so readers keep seeing a complete file throughout.
  BASALT_RETURN_IF_ERROR(esp.Rename(fresh, path));
  BASALT_RETURN_IF_ERROR(esp.Sync());
  BASALT_RETURN_IF_ERROR(esp.Remove(old));
  return esp.Sync();
}

}  // namespace

std::unique_ptr<EspFiles> OpenEspDirectory(std::string root) {
  return std::make_unique<DirectoryEsp>(std::move(root));
}

std::unique_ptr<EspFiles> OpenEspMtools(std::string image, uint64_t offset, uint64_t size) {
  return std::make_unique<MtoolsEsp>(std::move(image), offset, size);
}

Status ReplaceFile(EspFiles& esp, const std::string& path, std::string_view data) {
  return ReplaceWith(esp, path, [&](const std::string& p) { return esp.Write(p, data); });
}

Status ReplaceFileFrom(EspFiles& esp, const std::string& path, const std::string& local_file) {
  return ReplaceWith(esp, path,
                     [&](const std::string& p) { return esp.WriteFromFile(p, local_file); });
}

Result<std::optional<std::string>> ReadRecovering(EspFiles& esp, const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(std::optional<std::string> data, esp.Read(path));
  if (data) return data;
  return esp.Read(path + ".old");
}

}  // namespace basalt::boot
