#include "filesystems.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <sstream>

#include "common/fd.h"
#include "common/subprocess.h"

namespace basalt::image {
namespace {

Status CreateSizedFile(const std::string& path, uint64_t size) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
  if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return FailErrno("ftruncate " + path);
  return {};
}

// Parses dumpe2fs's "Free inodes: 14-4096, 4100" lines and returns the used inode numbers.
using ToolEnv = std::vector<std::pair<std::string, std::string>>;

// The filesystem builders: the caller's environment (fakeroot's passes through) with `env` on
// top, and their output, stderr with stdout, for the error message.
Command Tool(std::vector<std::string> argv, ToolEnv env) {
  Command c(std::move(argv));
  c.env = std::move(env);
  c.stderr_mode = Command::Stderr::kMerge;
  return c;
}

Result<std::vector<uint64_t>> UsedInodes(const std::string& image) {
  BASALT_ASSIGN_OR_RETURN(std::string out, RunCommandOk(Tool({"dumpe2fs", image}, {{"LC_ALL", "C"}})));
  uint64_t per_group = 0;
  std::vector<uint64_t> used;
  uint64_t group = 0;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Inodes per group:", 0) == 0) per_group = std::stoull(line.substr(17));
    size_t pos = line.find("Free inodes: ");
    if (pos == std::string::npos || line.rfind("Free inodes:", 0) == 0) continue;
    if (per_group == 0) return Fail(ErrorKind::kInternal, "dumpe2fs: no inode count per group");
    std::set<uint64_t> free_set;
    std::string ranges = line.substr(pos + 13);
    std::istringstream rs(ranges);
    std::string item;
    while (std::getline(rs, item, ',')) {
      while (!item.empty() && item.front() == ' ')
        item.erase(item.begin());
      if (item.empty()) continue;
      size_t dash = item.find('-');
      uint64_t a = std::stoull(item.substr(0, dash));
      uint64_t b = dash == std::string::npos ? a : std::stoull(item.substr(dash + 1));
      for (uint64_t i = a; i <= b; ++i)
        free_set.insert(i);
    }
    for (uint64_t ino = group * per_group + 1; ino <= (group + 1) * per_group; ++ino) {
      if (!free_set.contains(ino)) used.push_back(ino);
    }
    ++group;
  }
  return used;
}

}  // namespace

Result<uint64_t> MakeErofs(const std::string& tree, const std::string& image,
                           const ErofsOptions& options) {
  Command cmd = Tool(
      {"mkfs.erofs", "--quiet", fmt::format("-T{}", options.timestamp), "-U" + options.uuid},
      {{"SOURCE_DATE_EPOCH", std::to_string(options.timestamp)}});
  if (options.compression == UsrCompression::kLz4hc) cmd.argv.push_back("-zlz4hc,12");
  cmd.argv.push_back(image);
  cmd.argv.push_back(tree);
  if (auto r = RunCommandOk(cmd); !r) {
    return std::unexpected(r.error().WithContext("build /usr erofs"));
  }
  struct stat st;
  if (stat(image.c_str(), &st) != 0) return FailErrno("stat " + image);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size % 4096 != 0) {
    return Failf(ErrorKind::kInternal, "mkfs.erofs produced {} bytes, not a multiple of 4096",
                 size);
  }
  return size;
}

Status MakeExt4(const std::string& image, const Ext4Options& options) {
  BASALT_RETURN_IF_ERROR(CreateSizedFile(image, options.size));
  std::string ts = std::to_string(options.timestamp);
  Command cmd = Tool({"mkfs.ext4", "-q", "-F", "-L", options.label, "-U", options.uuid, "-E",
                      "root_owner=0:0,hash_seed=" + options.hash_seed},
                     {{"E2FSPROGS_FAKE_TIME", ts}, {"SOURCE_DATE_EPOCH", ts}, {"LC_ALL", "C"}});
  if (!options.tree.empty()) {
    cmd.argv.push_back("-d");
    cmd.argv.push_back(options.tree);
  }
  cmd.argv.push_back(image);
  if (auto r = RunCommandOk(cmd); !r) {
    return std::unexpected(r.error().WithContext(
        fmt::format("build {} ext4 ({})", options.label, HumanSize(options.size))));
  }
  BASALT_ASSIGN_OR_RETURN(std::vector<uint64_t> used, UsedInodes(image));
  std::string script;
  for (uint64_t ino : used) {
    if (ino != 2 && ino < 11) continue;  // reserved inodes (journal, resize) are not files
    for (const char* field : {"ctime", "atime"}) {
      // "@N" is seconds since the epoch; a bare number is first tried as YYYYMMDD[HHMM[SS]],
      // which turns e.g. 1795323527 into a time in 2339 with the epoch bits set.
      script += fmt::format("sif <{}> {} @{}\n", ino, field, ts);
    }
  }
  std::string script_path = image + ".debugfs";
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(script_path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  BASALT_RETURN_IF_ERROR(WriteFull(
      fd.get(), {reinterpret_cast<const uint8_t*>(script.data()), script.size()}, script_path));
  fd.Reset();
  auto r = RunCommandOk(Tool({"debugfs", "-w", "-f", script_path, image},
                            {{"E2FSPROGS_FAKE_TIME", ts}, {"LC_ALL", "C"}}));
  unlink(script_path.c_str());
  if (!r) return std::unexpected(r.error().WithContext("fix ext4 inode times"));
  return {};
}

Status MakeVfat(const std::string& image, const std::vector<EspFile>& files,
                const VfatOptions& options, const std::string& scratch) {
  // mkfs.fat -C refuses an existing file.
  unlink(image.c_str());
  std::string ts = std::to_string(options.timestamp);
  ToolEnv env = {
      {"SOURCE_DATE_EPOCH", ts}, {"TZ", "UTC"}, {"MTOOLS_SKIP_CHECK", "1"}, {"LC_ALL", "C"}};
  BASALT_RETURN_IF_ERROR(RunCommandOk(
      Tool({"mkfs.fat", "-C", "-F", "32", "-n", options.label, "--invariant", "-i",
            fmt::format("{:08X}", options.volume_id), image, std::to_string(options.size / 1024)},
           env)));
  std::set<std::string> dirs;
  for (const auto& f : files) {
    for (size_t pos = f.path.find('/', 1); pos != std::string::npos;
         pos = f.path.find('/', pos + 1)) {
      dirs.insert(f.path.substr(0, pos));
    }
  }
  if (!dirs.empty()) {
    Command mmd = Tool({"mmd", "-i", image}, env);
    for (const auto& d : dirs)
      mmd.argv.push_back("::" + d);  // std::set orders parents first
    BASALT_RETURN_IF_ERROR(RunCommandOk(mmd));
  }
  // mcopy -m keeps the source's mtime; the copy in scratch carries the build timestamp.
  int n = 0;
  for (const auto& f : files) {
    std::string staged = fmt::format("{}/esp-{}", scratch, n++);
    const std::string& bytes = f.data;
    BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(staged, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    BASALT_RETURN_IF_ERROR(WriteFull(
        fd.get(), {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, staged));
    timespec times[2] = {{options.timestamp, 0}, {options.timestamp, 0}};
    if (futimens(fd.get(), times) != 0) return FailErrno("futimens " + staged);
    fd.Reset();
    auto r = RunCommandOk(Tool({"mcopy", "-i", image, "-m", "-o", staged, "::" + f.path}, env));
    unlink(staged.c_str());
    if (!r) {
      return std::unexpected(r.error().WithContext(
          fmt::format("copy {} into the ESP ({})", f.path, HumanSize(options.size))));
    }
  }
  return {};
}

}  // namespace basalt::image
