#include "input.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/hash.h"
#include "common/hex.h"
#include "tree_copy.h"

namespace basalt::image {

std::string_view InputKindName(InputKind kind) {
  switch (kind) {
    case InputKind::kDirectory:
      return "directory";
    case InputKind::kTarball:
      return "tarball";
    case InputKind::kOci:
      return "oci";
  }
  return "unknown";
}

Result<InputKind> DetectInputKind(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return FailErrno("rootfs " + path);
  if (S_ISDIR(st.st_mode)) {
    struct stat layout;
    if (stat((path + "/oci-layout").c_str(), &layout) == 0 &&
        stat((path + "/index.json").c_str(), &layout) == 0) {
      return InputKind::kOci;
    }
    return InputKind::kDirectory;
  }
  if (S_ISREG(st.st_mode)) return InputKind::kTarball;
  return Failf(ErrorKind::kInvalidInput, "rootfs {} is neither a directory nor a file", path);
}

Result<StagedInput> StageTarball(const std::string& input, const std::string& tree,
                                 uint64_t max_input_bytes);
Result<StagedInput> StageOci(const std::string& input, const std::string& tree,
                             uint64_t max_input_bytes);

uint64_t DefaultMaxInputBytes(uint64_t usr_size, uint64_t root_size) {
  return 2 * (usr_size + root_size);
}

namespace {

Result<StagedInput> StageDirectory(const std::string& input, const std::string& tree,
                                   const std::vector<std::string>& root_seed, int64_t clamp_mtime,
                                   uint64_t max_input_bytes) {
  if (mkdir(tree.c_str(), 0755) != 0) return FailErrno("mkdir " + tree);
  struct stat st;
  if (lstat((input + "/usr").c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Failf(ErrorKind::kInvalidInput, "rootfs {} has no /usr directory", input);
  }
  std::vector<std::string> names = {"usr", "boot"};
  for (const auto& s : root_seed) {
    if (std::find(names.begin(), names.end(), s) == names.end()) names.push_back(s);
  }
  std::sort(names.begin(), names.end());
  Hasher listing(HashAlgorithm::kSha256);
  CopyStats stats;
  for (const auto& n : names) {
    std::string src = input + "/" + n;
    if (lstat(src.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;
      return FailErrno("lstat " + src);
    }
    CopyOptions options;
    // /usr and /boot go to erofs with one fixed timestamp: link everything. ROOT keeps mtimes
    // (clamped), so only files not newer than the clamp are linked.
    options.link_files = true;
    options.link_only_unclamped = n != "usr" && n != "boot";
    options.clamp_mtime = options.link_only_unclamped ? clamp_mtime : INT64_MAX;
    options.devices_only_under_dev = true;
    options.max_file_bytes = max_input_bytes;
    auto copied = CopyTree(src, tree + "/" + n, "/" + n, options, &listing, &stats);
    if (!copied) return std::unexpected(std::move(copied).error().WithContext("rootfs " + input));
  }
  StagedInput out;
  out.kind = InputKind::kDirectory;
  out.digest = "sha256:" + ToHex(listing.Final());
  out.newest_mtime = stats.newest_mtime;
  out.entries = stats.entries;
  out.skipped_devices = stats.skipped_devices;
  out.extracted_bytes = stats.file_bytes;
  return out;
}

}  // namespace

Result<StagedInput> StageInput(const std::string& input, InputKind kind, const std::string& tree,
                               const std::vector<std::string>& root_seed, int64_t clamp_mtime,
                               uint64_t max_input_bytes) {
  switch (kind) {
    case InputKind::kDirectory:
      return StageDirectory(input, tree, root_seed, clamp_mtime, max_input_bytes);
    case InputKind::kTarball:
      return StageTarball(input, tree, max_input_bytes);
    case InputKind::kOci:
      return StageOci(input, tree, max_input_bytes);
  }
  return Fail(ErrorKind::kInternal, "unknown input kind");
}

}  // namespace basalt::image
