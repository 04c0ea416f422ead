#include "bsdiff_runner.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/fd.h"
#include "common/subprocess.h"

namespace basalt::payload {
namespace {

Status WriteTemp(const std::string& path, std::span<const uint8_t> data) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  return WriteFull(fd.get(), data, path);
}

}  // namespace

std::vector<uint8_t> BsdiffRunner::Diff(std::span<const uint8_t> old_data,
                                        std::span<const uint8_t> new_data, size_t slot) {
  const std::string base = fmt::format("{}/bsdiff-{}-{}", tmpdir_, getpid(), slot);
  const std::string o = base + ".old", n = base + ".new", p = base + ".patch";
  struct Cleanup {
    const std::string &o, &n, &p;
    ~Cleanup() {
      unlink(o.c_str());
      unlink(n.c_str());
      unlink(p.c_str());
    }
  } cleanup{o, n, p};
  if (auto s = WriteTemp(o, old_data); !s) {
    NoCandidate("writing its input", s.error());
    return {};
  }
  if (auto s = WriteTemp(n, new_data); !s) {
    NoCandidate("writing its input", s.error());
    return {};
  }
  if (auto r = RunCommandOk({"bsdiff", o, n, p}); !r) {
    NoCandidate("running it", r.error());
    return {};
  }
  auto patch = ReadFileToString(p);
  if (!patch) {
    NoCandidate("reading its patch", patch.error());
    return {};
  }
  return std::vector<uint8_t>(patch->begin(), patch->end());
}

void BsdiffRunner::NoCandidate(std::string_view step, const Error& error) {
  std::lock_guard lock(mu_);
  const std::string kind = fmt::format("{}/{}", step, static_cast<int>(error.kind()));
  if (!logged_.insert(kind).second) return;
  log_.Warn(
      fmt::format("no bsdiff candidates ({} failed: {}); those diffs are zstd's alone, "
                  "later failures of this kind are not logged",
                  step, error.message()));
}

}  // namespace basalt::payload
