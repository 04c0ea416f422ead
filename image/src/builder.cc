#include "image/builder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include "boot/fresh_esp.h"
#include "boot/slot_entry.h"
#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "disk/gpt_disk.h"
#include "filesystems.h"
#include "initramfs.h"
#include "input.h"
#include "kernel.h"
#include "sbom.h"
#include "seed.h"
#include "tree_copy.h"
#include "verity_step.h"

namespace basalt::image {
namespace {

constexpr uint64_t kAlign = kMiB;

// Removes the work directory unless the build committed.
class WorkDir {
 public:
  explicit WorkDir(std::string path) : path_(std::move(path)) {}
  ~WorkDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Deletes staged trees on other threads once no step needs them. Unlinking tens of thousands of
// hardlinks is metadata-heavy; overlapping it with the filesystem builders hides most of it.
class BackgroundRemover {
 public:
  BackgroundRemover() = default;
  BackgroundRemover(const BackgroundRemover&) = delete;
  BackgroundRemover& operator=(const BackgroundRemover&) = delete;
  ~BackgroundRemover() {
    for (auto& t : threads_)
      t.join();
  }
  void Remove(std::string path) {
    threads_.emplace_back([p = std::move(path)] {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    });
  }

 private:
  std::vector<std::thread> threads_;
};

class StepTimer {
 public:
  explicit StepTimer(nlohmann::json* timings) : timings_(timings) {}
  void Start(std::string name) {
    Stop();
    name_ = std::move(name);
    start_ = std::chrono::steady_clock::now();
  }
  void Stop() {
    if (name_.empty()) return;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start_)
                  .count();
    (*timings_)[name_] = ms;
    name_.clear();
  }

 private:
  nlohmann::json* timings_;
  std::string name_;
  std::chrono::steady_clock::time_point start_;
};

Status CheckOutput(const std::string& output) {
  struct stat st;
  if (lstat(output.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return FailErrno("output " + output);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Failf(ErrorKind::kInvalidInput, "output {} exists and is not a directory", output);
  }
  std::error_code ec;
  if (!std::filesystem::is_empty(output, ec) || ec) {
    return Failf(ErrorKind::kInvalidInput,
                 "output directory {} is not empty; refusing to overwrite a previous build",
                 output);
  }
  return {};
}

// Copies the data extents of `src` into `disk_fd` at `offset`, leaving holes as holes.
Status HashRange(int fd, uint64_t start, uint64_t end, Hasher& h, std::string_view what);

// With `h`, the whole of src (holes as zeros) is hashed on the way.
Status CopyIntoDisk(const std::string& src, int disk_fd, uint64_t offset, Hasher* h) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd in, OpenFile(src, O_RDONLY));
  struct stat st;
  if (fstat(in.get(), &st) != 0) return FailErrno("fstat " + src);
  off_t end = st.st_size;
  off_t pos = 0;
  std::vector<uint8_t> buf(1 << 20);
  while (pos < end) {
    off_t data = lseek(in.get(), pos, SEEK_DATA);
    if (data < 0) {
      if (errno != ENXIO) return FailErrno("lseek " + src);
      data = end;  // only a hole remains
    }
    if (h != nullptr) {
      static const std::vector<uint8_t> kZeros(1 << 20, 0);
      for (off_t z = pos; z < data;) {
        size_t n =
            static_cast<size_t>(std::min<off_t>(data - z, static_cast<off_t>(kZeros.size())));
        h->Update(std::span<const uint8_t>(kZeros.data(), n));
        z += static_cast<off_t>(n);
      }
    }
    if (data >= end) break;
    off_t hole = lseek(in.get(), data, SEEK_HOLE);
    if (hole < 0) return FailErrno("lseek " + src);
    for (off_t p = data; p < hole;) {
      size_t n = static_cast<size_t>(std::min<off_t>(hole - p, static_cast<off_t>(buf.size())));
      BASALT_RETURN_IF_ERROR(PreadFull(in.get(), {buf.data(), n}, static_cast<uint64_t>(p), src));
      if (h != nullptr) h->Update(std::span<const uint8_t>(buf.data(), n));
      BASALT_RETURN_IF_ERROR(
          PwriteFull(disk_fd, {buf.data(), n}, offset + static_cast<uint64_t>(p), "disk.img"));
      p += static_cast<off_t>(n);
    }
    pos = hole;
  }
  return {};
}

// Feeds [start, end) of fd into h; holes are fed from a zero buffer instead of being read, which
// matters for a disk image that is mostly empty partitions.
Status HashRange(int fd, uint64_t start, uint64_t end, Hasher& h, std::string_view what) {
  static const std::vector<uint8_t> kZeros(1 << 20, 0);
  std::vector<uint8_t> buf(1 << 20);
  uint64_t pos = start;
  while (pos < end) {
    off_t data = lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno != ENXIO) return FailErrno(fmt::format("lseek {}", what));
    uint64_t data_start = data < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(data), end);
    while (pos < data_start) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kZeros.size(), data_start - pos));
      h.Update(std::span<const uint8_t>(kZeros.data(), n));
      pos += n;
    }
    if (pos >= end) break;
    off_t hole = lseek(fd, static_cast<off_t>(pos), SEEK_HOLE);
    if (hole < 0) return FailErrno(fmt::format("lseek {}", what));
    uint64_t data_end = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    while (pos < data_end) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), data_end - pos));
      BASALT_RETURN_IF_ERROR(PreadFull(fd, {buf.data(), n}, pos, what));
      h.Update(std::span<const uint8_t>(buf.data(), n));
      pos += n;
    }
  }
  return {};
}

// Hashes disk.img on a second thread while the remaining partitions are built: the part up to
// `split` as soon as it is written, the rest once Finish() says it is.
class DiskDigest {
 public:
  DiskDigest(std::string path, uint64_t split, uint64_t size)
      : path_(std::move(path)), split_(split), size_(size) {
    thread_ = std::thread([this] { result_ = Run(); });
  }
  ~DiskDigest() {
    if (thread_.joinable()) {
      rest_ready_.set_value(false);
      thread_.join();
    }
  }
  DiskDigest(const DiskDigest&) = delete;
  DiskDigest& operator=(const DiskDigest&) = delete;

  Result<std::string> Finish() {
    rest_ready_.set_value(true);
    thread_.join();
    return result_;
  }

 private:
  Result<std::string> Run() {
    std::future<bool> rest = rest_ready_.get_future();
    auto fd = OpenFile(path_, O_RDONLY);
    if (!fd) return std::unexpected(fd.error());
    Hasher h(HashAlgorithm::kSha256);
    BASALT_RETURN_IF_ERROR(HashRange(fd->get(), 0, split_, h, path_));
    if (!rest.get()) return Fail(ErrorKind::kInternal, "cancelled");
    BASALT_RETURN_IF_ERROR(HashRange(fd->get(), split_, size_, h, path_));
    return ToHex(h.Final());
  }

  std::string path_;
  uint64_t split_, size_;
  std::promise<bool> rest_ready_;
  Result<std::string> result_ = std::string();
  std::thread thread_;
};

Status SetTime(const std::string& path, int64_t t) {
  timespec times[2] = {{t, 0}, {t, 0}};
  if (utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return FailErrno("utimensat " + path);
  }
  return {};
}

Status MakeDir(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return FailErrno("mkdir " + path);
  if (chmod(path.c_str(), mode) != 0) return FailErrno("chmod " + path);
  if (lchown(path.c_str(), 0, 0) != 0) return FailErrno("chown " + path);
  return {};
}

}  // namespace

Result<nlohmann::json> BuildImage(const BuildRequest& req, Logger& log) {
  const ImageDefinition& def = req.definition;
  nlohmann::json timings = nlohmann::json::object();
  StepTimer timer(&timings);
  auto total_start = std::chrono::steady_clock::now();

  std::string output = std::filesystem::absolute(req.output).lexically_normal().string();
  while (output.size() > 1 && output.back() == '/')
    output.pop_back();
  BASALT_RETURN_IF_ERROR(CheckOutput(output));
  std::string parent = std::filesystem::path(output).parent_path().string();
  std::string base = std::filesystem::path(output).filename().string();
  std::string tmpl = fmt::format("{}/.{}.basalt-XXXXXX", parent, base);
  if (mkdtemp(tmpl.data()) == nullptr) return FailErrno("create work directory in " + parent);
  WorkDir work(tmpl);
  BackgroundRemover remover;  // joined before `work` is removed
  const std::string& w = work.path();
  if (chmod(w.c_str(), 0755) != 0) return FailErrno("chmod " + w);

  // 1. Stage the input.
  timer.Start("stage");
  BASALT_ASSIGN_OR_RETURN(InputKind kind, DetectInputKind(req.rootfs));
  log.Info(fmt::format("staging {} input {}", InputKindName(kind), req.rootfs));
  std::string tree = w + "/tree";
  BASALT_ASSIGN_OR_RETURN(
      StagedInput staged,
      StageInput(req.rootfs, kind, tree, def.root_seed, def.source_date_epoch.value_or(INT64_MAX)));
  const int64_t sde = def.source_date_epoch.value_or(staged.newest_mtime);
  const std::string seed = def.seed.value_or(staged.digest);
  SeedDeriver derive(seed);

  // 2. Kernel and initramfs into /usr (docs/image.md:
  // /usr/lib/modules/<kver>/{vmlinuz,initrd.img}), so verity covers both and the updater copies
  // them from the new slot's /usr to the ESP.
  timer.Start("kernel");
  BASALT_ASSIGN_OR_RETURN(KernelInfo kernel, FindKernel(tree));
  BASALT_RETURN_IF_ERROR(PlaceKernelInUsr(tree, tree + "/usr", kernel, sde));
  BASALT_ASSIGN_OR_RETURN(Sha256Digest kernel_sha, Sha256File(tree + kernel.usr_path));
  BASALT_ASSIGN_OR_RETURN(std::string kernel_bytes, ReadFileToString(tree + kernel.usr_path));
  timer.Start("initramfs");
  log.Info(fmt::format("building the initramfs with {}", req.basalt_init));
  boot::InitramfsSpec initramfs_spec;
  initramfs_spec.tree = tree;
  initramfs_spec.kernel_version = kernel.version;
  initramfs_spec.basalt_init = req.basalt_init;
  auto initramfs = BuildInitramfs(initramfs_spec, sde);
  if (!initramfs) return std::unexpected(initramfs.error().WithContext("initramfs"));
  const std::string initrd_usr_path = fmt::format("/usr/lib/modules/{}/initrd.img", kernel.version);
  // A new inode (temp + rename): the staged tree may hold hardlinks to the input.
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(tree + initrd_usr_path, *initramfs, 0644));
  if (lchown((tree + initrd_usr_path).c_str(), 0, 0) != 0) {
    return FailErrno("chown " + tree + initrd_usr_path);
  }
  BASALT_RETURN_IF_ERROR(SetTime(tree + initrd_usr_path, sde));
  const std::string initramfs_sha = ToHex(Sha256(*initramfs));

  // 3. Partition table plan and the GPT, which depend only on sizes and the seed.
  timer.Start("gpt");
  struct Plan {
    int number;
    const char* label;
    std::string_view type;
    uint64_t size;
    uint64_t attrs;
  };
  const std::vector<Plan> plan = {
      {1, "EFI-SYSTEM", disk::kEspTypeGuid, def.sizes.esp, 0},
      {3, "USR-A", disk::kUsrTypeGuid, def.sizes.usr, boot::FreshUsrAAttributes()},
      {4, "USR-B", disk::kUsrTypeGuid, def.sizes.usr, 0},
      {6, "OEM", disk::kLinuxDataTypeGuid, def.sizes.oem, 0},
      {9, "ROOT", disk::kCoreosRootTypeGuid, def.sizes.root, 0},
  };
  std::vector<disk::GptPartition> parts;
  uint64_t offset = kAlign;
  for (const Plan& p : plan) {
    disk::GptPartition g;
    g.number = static_cast<size_t>(p.number);
    g.label = p.label;
    g.type_guid = std::string(p.type);
    g.uuid = derive.Uuid(fmt::format("partition-{}", p.number));
    g.start_bytes = offset;
    g.size_bytes = p.size;
    g.attributes = p.attrs;
    offset += p.size;
    parts.push_back(g);
  }
  const uint64_t disk_size = offset + kAlign;  // room for the backup GPT
  const disk::GptPartition& esp_part = parts[0];
  const disk::GptPartition& usr_a = parts[1];
  const disk::GptPartition& oem_part = parts[3];
  const disk::GptPartition& root_part = parts[4];
  std::string out_dir = w + "/out";
  if (mkdir(out_dir.c_str(), 0755) != 0) return FailErrno("mkdir " + out_dir);
  const std::string disk_img = out_dir + "/disk.img";
  {
    BASALT_ASSIGN_OR_RETURN(UniqueFd disk, OpenFile(disk_img, O_RDWR | O_CREAT | O_EXCL, 0644));
    if (ftruncate(disk.get(), static_cast<off_t>(disk_size)) != 0) {
      return FailErrno("ftruncate disk.img");
    }
  }
  BASALT_RETURN_IF_ERROR(disk::CreateGpt(disk_img, derive.Uuid("disk-guid"), parts));
  BASALT_ASSIGN_OR_RETURN(UniqueFd disk, OpenFile(disk_img, O_RDWR));

  // 4. /usr as erofs + verity, into USR-A.
  timer.Start("usr_erofs");
  log.Info("building /usr erofs");
  const std::string usr_img = out_dir + "/usr.img";
  ErofsOptions erofs;
  erofs.compression = def.usr_compression;
  erofs.uuid = derive.Uuid("usr-erofs-uuid");
  erofs.timestamp = sde;
  BASALT_ASSIGN_OR_RETURN(uint64_t usr_fs_size, MakeErofs(tree + "/usr", usr_img, erofs));
  timer.Start("usr_verity");
  BASALT_ASSIGN_OR_RETURN(VerityResult verity, AppendVerityTree(usr_img, usr_fs_size,
                                                                derive.Bytes("usr-verity-salt", 32),
                                                                derive.Uuid("usr-verity-uuid")));
  if (verity.size > def.sizes.usr) {
    return Failf(ErrorKind::kInvalidInput,
                 "the /usr tree needs {} ({} erofs + {} hash tree), USR-A is {}; raise "
                 "partitions.usr_size",
                 HumanSize(verity.size), HumanSize(usr_fs_size),
                 HumanSize(verity.size - usr_fs_size), HumanSize(def.sizes.usr));
  }
  timer.Start("usr_copy");
  Hasher usr_hasher(HashAlgorithm::kSha256);
  BASALT_RETURN_IF_ERROR(CopyIntoDisk(usr_img, disk.get(), usr_a.start_bytes, &usr_hasher));
  const std::string usr_sha = ToHex(usr_hasher.Final());

  // 5. ESP: the chosen backend's boot loader, config and state (bootloader/fresh_esp.h), and
  // slot A's kernel and initramfs.
  remover.Remove(tree + "/usr");
  timer.Start("esp");
  log.Info(fmt::format("building the ESP ({} backend)", def.boot_backend));
  boot::FreshEspOptions esp_opts;
  esp_opts.backend = def.boot_backend;
  esp_opts.slot_a = {def.version, usr_a.uuid, verity.root_hash, def.kernel_cmdline};
  esp_opts.scratch_dir = w;
  BASALT_ASSIGN_OR_RETURN(std::vector<boot::EspTextFile> boot_files, boot::FreshEspFiles(esp_opts));
  std::vector<EspFile> esp_files;
  for (auto& f : boot_files)
    esp_files.push_back({std::move(f.path), std::move(f.content)});
  esp_files.push_back({boot::SlotKernelPath(boot::Slot::kA), std::move(kernel_bytes)});
  esp_files.push_back({boot::SlotInitrdPath(boot::Slot::kA), std::move(*initramfs)});
  uint64_t esp_bytes = 0;
  for (const auto& f : esp_files)
    esp_bytes += f.data.size();
  // FAT32 needs about 1 MiB of FATs and reserved sectors for a few hundred MiB.
  if (esp_bytes + 2 * kMiB > def.sizes.esp) {
    return Failf(ErrorKind::kInvalidInput,
                 "the ESP files need {} (boot loader, kernel, initramfs), EFI-SYSTEM is {}; raise "
                 "partitions.esp_size",
                 HumanSize(esp_bytes + 2 * kMiB), HumanSize(def.sizes.esp));
  }
  const std::string esp_img = w + "/esp.img";
  VfatOptions vfat;
  vfat.volume_id = derive.U32("esp-volume-id");
  vfat.size = def.sizes.esp;
  vfat.timestamp = sde;
  BASALT_RETURN_IF_ERROR(MakeVfat(esp_img, esp_files, vfat, w));
  BASALT_RETURN_IF_ERROR(CopyIntoDisk(esp_img, disk.get(), esp_part.start_bytes, nullptr));
  // Everything before OEM is final now: hash it while OEM and ROOT are built.
  DiskDigest disk_digest(disk_img, oem_part.start_bytes, disk_size);

  // 6. ROOT: the seed entries plus mount points; OEM empty.
  timer.Start("root_ext4");
  log.Info("building ROOT ext4");
  const std::string root_tree = w + "/root";
  BASALT_RETURN_IF_ERROR(MakeDir(root_tree, 0755));
  for (const auto& n : def.root_seed) {
    std::string from = tree + "/" + n;
    struct stat st;
    if (lstat(from.c_str(), &st) != 0) continue;
    if (rename(from.c_str(), (root_tree + "/" + n).c_str()) != 0) {
      return FailErrno("rename " + from);
    }
  }
  for (const char* mp : {"usr", "boot", "dev", "proc", "run", "sys"}) {
    BASALT_RETURN_IF_ERROR(MakeDir(root_tree + "/" + mp, 0755));
    BASALT_RETURN_IF_ERROR(SetTime(root_tree + "/" + mp, sde));
  }
  if (kind == InputKind::kDirectory) {
    // Staged files are hardlinks to the input or already clamped copies: never touch them.
    BASALT_RETURN_IF_ERROR(SetTime(root_tree, sde));
  } else {
    BASALT_RETURN_IF_ERROR(ClampTimes(root_tree, sde));
  }
  std::optional<std::vector<DpkgPackage>> packages;
  {
    std::string status_path = root_tree + "/var/lib/dpkg/status";
    struct stat st;
    if (stat(status_path.c_str(), &st) == 0) {
      BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(status_path));
      auto parsed = ParseDpkgStatus(text);
      if (!parsed) return std::unexpected(parsed.error().WithContext("/var/lib/dpkg/status"));
      packages = std::move(*parsed);
    }
  }
  const std::string root_img = w + "/root.img";
  Ext4Options root_opts;
  root_opts.label = "ROOT";
  root_opts.uuid = derive.Uuid("root-fs-uuid");
  root_opts.hash_seed = derive.Uuid("root-fs-hash-seed");
  root_opts.size = def.sizes.root;
  root_opts.timestamp = sde;
  root_opts.tree = root_tree;
  BASALT_RETURN_IF_ERROR(MakeExt4(root_img, root_opts));
  remover.Remove(root_tree);
  timer.Start("oem_ext4");
  const std::string oem_img = w + "/oem.img";
  Ext4Options oem_opts;
  oem_opts.label = "OEM";
  oem_opts.uuid = derive.Uuid("oem-fs-uuid");
  oem_opts.hash_seed = derive.Uuid("oem-fs-hash-seed");
  oem_opts.size = def.sizes.oem;
  oem_opts.timestamp = sde;
  BASALT_RETURN_IF_ERROR(MakeExt4(oem_img, oem_opts));

  // 7. The rest of disk.img.
  timer.Start("disk");
  log.Info("assembling disk.img");
  BASALT_RETURN_IF_ERROR(CopyIntoDisk(oem_img, disk.get(), oem_part.start_bytes, nullptr));
  BASALT_RETURN_IF_ERROR(CopyIntoDisk(root_img, disk.get(), root_part.start_bytes, nullptr));
  if (fsync(disk.get()) != 0) return FailErrno("fsync disk.img");
  disk.Reset();
  {
    BASALT_ASSIGN_OR_RETURN(UniqueFd u, OpenFile(usr_img, O_RDONLY));
    if (fsync(u.get()) != 0) return FailErrno("fsync usr.img");
  }

  // 8. Digests, SBOM and the build record.
  timer.Start("digests");
  auto disk_sha_result = disk_digest.Finish();
  if (!disk_sha_result) return std::unexpected(disk_sha_result.error());
  const std::string disk_sha = *disk_sha_result;

  SbomInputs sbom_in;
  sbom_in.os_name = def.os_name;
  sbom_in.version = def.version;
  sbom_in.input_digest = staged.digest;
  sbom_in.created = sde;
  sbom_in.builder_version = req.builder_version;
  sbom_in.packages = packages;
  std::string sbom_text =
      MakeSpdx(sbom_in).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(out_dir + "/sbom.spdx.json", sbom_text));

  nlohmann::json partitions = nlohmann::json::array();
  for (const auto& p : parts) {
    partitions.push_back({{"number", p.number},
                          {"label", p.label},
                          {"type", p.type_guid},
                          {"uuid", p.uuid},
                          {"offset", p.start_bytes},
                          {"size", p.size_bytes}});
  }
  timer.Stop();
  timings["total"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - total_start)
                         .count();
  nlohmann::json record = {
      {"version", def.version},
      {"os_name", def.os_name},
      {"boot_backend", def.boot_backend},
      {"usr",
       {{"root_hash", verity.root_hash},
        {"salt", verity.salt},
        {"uuid", verity.uuid},
        {"hash_algorithm", "sha256"},
        {"data_block_size", 4096},
        {"hash_block_size", 4096},
        {"data_blocks", verity.data_blocks},
        {"hash_offset", verity.hash_offset},
        {"size", verity.size},
        {"filesystem", "erofs"},
        {"compression", UsrCompressionName(def.usr_compression)},
        {"partuuid", usr_a.uuid},
        {"sha256", usr_sha}}},
      {"kernel",
       {{"version", kernel.version}, {"sha256", ToHex(kernel_sha)}, {"path", kernel.usr_path}}},
      {"initramfs", {{"sha256", initramfs_sha}, {"path", initrd_usr_path}}},
      {"disk", {{"size", disk_size}, {"sha256", disk_sha}, {"partitions", partitions}}},
      {"input_digest", staged.digest},
      {"input_kind", InputKindName(kind)},
      {"sbom", {{"path", "sbom.spdx.json"}, {"sha256", ToHex(Sha256(sbom_text))}}},
      {"builder", {{"name", "basalt"}, {"version", req.builder_version}}},
      {"source_date_epoch", sde},
      {"seed", seed},
      {"timings_ms", timings},
  };
  BASALT_RETURN_IF_ERROR(
      WriteFileAtomic(out_dir + "/image.json",
                      record.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"));
  BASALT_RETURN_IF_ERROR(FsyncDirectory(out_dir));

  // 9. Into place: an empty output directory is replaced, a missing one created by the rename.
  if (rename(out_dir.c_str(), output.c_str()) != 0) return FailErrno("rename into " + output);
  BASALT_RETURN_IF_ERROR(FsyncDirectory(parent));
  log.Info(fmt::format("built {} ({} in {} ms)", output, HumanSize(disk_size),
                       timings["total"].get<int64_t>()));
  return record;
}

}  // namespace basalt::image
