#include "fat_repair.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "common/fd.h"
#include "common/subprocess.h"

namespace basalt::boot {
namespace {

constexpr size_t kChunk = 1 << 20;
constexpr size_t kBlock = 4096;

bool AllZero(std::span<const uint8_t> data) {
  return std::all_of(data.begin(), data.end(), [](uint8_t b) { return b == 0; });
}

// A temp file with no name: unlinked as soon as it exists, so a process killed in the middle
// of a repair (the daemon's finalize step can be) leaves nothing behind. Tools reach it
// through /proc/PID/fd/N.
class ScratchFile {
 public:
  static Result<ScratchFile> Create() {
    const char* dir = std::getenv("TMPDIR");
    // /var/tmp rather than /tmp: the copy can be as large as the ESP, and /tmp is often RAM.
    std::string path = fmt::format("{}/basalt-fat-XXXXXX", dir && *dir ? dir : "/var/tmp");
    int raw = ::mkstemp(path.data());
    if (raw < 0) return FailErrno(fmt::format("create a scratch file like {}", path));
    UniqueFd fd(raw);
    if (::unlink(path.c_str()) != 0) return FailErrno("unlink scratch file " + path);
    return ScratchFile(std::move(fd), fmt::format("/proc/{}/fd/{}", ::getpid(), raw));
  }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  ScratchFile(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

// fsck's report without its version banner, on one line for messages and logs.
std::string Report(const CommandResult& r) {
  std::string text = r.out + r.err;
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line.starts_with("fsck.fat ")) continue;
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

}  // namespace

Result<std::string> RepairFat(const std::string& image, uint64_t offset, uint64_t size) {
  const std::string where = fmt::format("{}@@{}", image, offset);
  BASALT_ASSIGN_OR_RETURN(UniqueFd disk, OpenFile(image, O_RDWR));
  BASALT_ASSIGN_OR_RETURN(ScratchFile copy, ScratchFile::Create());
  if (::ftruncate(copy.fd(), static_cast<off_t>(size)) != 0) {
    return FailErrno(fmt::format("size {} for a copy of {}", copy.path(), where));
  }
  std::vector<uint8_t> a(kChunk), b(kChunk);
  // Zero chunks stay holes, so the copy costs only the space the ESP uses.
  for (uint64_t at = 0; at < size; at += kChunk) {
    std::span<uint8_t> chunk(a.data(), std::min<uint64_t>(kChunk, size - at));
    BASALT_RETURN_IF_ERROR(PreadFull(disk.get(), chunk, offset + at, where));
    if (!AllZero(chunk)) BASALT_RETURN_IF_ERROR(PwriteFull(copy.fd(), chunk, at, copy.path()));
  }

  BASALT_ASSIGN_OR_RETURN(CommandResult fix, RunCommand({"fsck.fat", "-a", copy.path()}));
  if (fix.exit_code == 0) return std::string();
  BASALT_ASSIGN_OR_RETURN(CommandResult check, RunCommand({"fsck.fat", "-n", copy.path()}));
  if (check.exit_code != 0) {
    return Failf(ErrorKind::kIntegrity,
                 "the FAT file system at {} is damaged and fsck.fat -a could not repair it: {}",
                 where, Report(check));
  }

  for (uint64_t at = 0; at < size; at += kChunk) {
    size_t n = std::min<uint64_t>(kChunk, size - at);
    BASALT_RETURN_IF_ERROR(PreadFull(disk.get(), {a.data(), n}, offset + at, where));
    BASALT_RETURN_IF_ERROR(PreadFull(copy.fd(), {b.data(), n}, at, copy.path()));
    for (size_t blk = 0; blk < n; blk += kBlock) {
      size_t len = std::min(kBlock, n - blk);
      if (std::equal(a.begin() + blk, a.begin() + blk + len, b.begin() + blk)) continue;
      BASALT_RETURN_IF_ERROR(
          PwriteFull(disk.get(), {b.data() + blk, len}, offset + at + blk, where));
    }
  }
  if (::fsync(disk.get()) != 0) return FailErrno(fmt::format("fsync {}", image));
  return Report(fix);
}

}  // namespace basalt::boot
