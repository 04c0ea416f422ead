#include "image/builder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "boot/backends.h"
#include "boot/fresh_esp.h"
#include "boot/slot_entry.h"
#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/printable.h"
#include "common/root_dir.h"
#include "common/run_catching.h"
#include "common/termination.h"
#include "disk/gpt_disk.h"
#include "disk_copy.h"
#include "filesystems.h"
#include "initramfs.h"
#include "input.h"
#include "kernel.h"
#include "sbom.h"
#include "seed.h"
#include "tree_copy.h"
#include "uki_step.h"
#include "verity_step.h"

namespace basalt::image {
namespace {

constexpr uint64_t kAlign = kMiB;

// Removes the work directory unless the build committed (renamed its out/ away).
class WorkDir {
 public:
  explicit WorkDir(std::string path) : path_(std::move(path)), on_signal_(path_) {}
  WorkDir(WorkDir&& other) noexcept
      : path_(std::exchange(other.path_, {})), on_signal_(std::move(other.on_signal_)) {}
  WorkDir& operator=(WorkDir&&) = delete;
  ~WorkDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  RemoveOnTermination on_signal_;  // SIGTERM/SIGINT mid-build: the work directory goes too
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
      // Best effort: a tree left behind is only disk space in the build's work directory.
      if (!RunCatching("remove a staged tree", [&] {
            std::error_code ec;
            std::filesystem::remove_all(p, ec);
          })) {
        return;
      }
    });
  }

 private:
  std::vector<std::thread> threads_;
};

int64_t MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

// image.json's timings_ms: each step's wall time, by name.
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
    (*timings_)[name_] = MillisecondsSince(start_);
    name_.clear();
  }

 private:
  nlohmann::json* timings_;
  std::string name_;
  std::chrono::steady_clock::time_point start_;
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

// Where the result goes: the output directory (absolute; absent or empty) and its parent, which
// also holds the work directory, so the final rename stays on one filesystem.
struct Destination {
  std::string output;
  std::string parent;
};

Result<Destination> CheckDestination(const std::string& requested) {
  std::string output = std::filesystem::absolute(requested).lexically_normal().string();
  while (output.size() > 1 && output.back() == '/')
    output.pop_back();
  struct stat st;
  if (lstat(output.c_str(), &st) != 0) {
    if (errno != ENOENT) return FailErrno("output " + output);
  } else if (!S_ISDIR(st.st_mode)) {
    return Failf(ErrorKind::kInvalidInput, "output {} exists and is not a directory", output);
  } else {
    std::error_code ec;
    if (!std::filesystem::is_empty(output, ec) || ec) {
      return Failf(ErrorKind::kInvalidInput,
                   "output directory {} is not empty; refusing to overwrite a previous build",
                   output);
    }
  }
  return Destination{output, std::filesystem::path(output).parent_path().string()};
}

// The work directory lives in the output's parent. Whoever may rename entries there (its owner,
// or anyone when it is group/world-writable without the sticky bit) could swap the work
// directory for a link while the build, often running as root, writes into it.
Status CheckWorkParent(const std::string& parent) {
  struct stat st;
  if (stat(parent.c_str(), &st) != 0) return FailErrno("output parent " + parent);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return Failf(ErrorKind::kInvalidInput,
                 "output parent {} is writable by other users (mode {:04o}, no sticky bit), who "
                 "could replace the work directory; choose an output in a directory only you "
                 "can write",
                 Printable(parent), st.st_mode & 07777);
  }
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return Failf(ErrorKind::kInvalidInput,
                 "output parent {} is owned by uid {}, neither us (uid {}) nor root, who could "
                 "replace the work directory; choose an output in a directory you own",
                 Printable(parent), st.st_uid, geteuid());
  }
  return {};
}

Result<WorkDir> MakeWorkDir(const Destination& dest) {
  BASALT_RETURN_IF_ERROR(CheckWorkParent(dest.parent));
  std::string base = std::filesystem::path(dest.output).filename().string();
  std::string tmpl = fmt::format("{}/.{}.basalt-XXXXXX", dest.parent, base);
  if (mkdtemp(tmpl.data()) == nullptr) return FailErrno("create work directory in " + dest.parent);
  WorkDir work(tmpl);
  // Only we may enter it: the staged tree holds setuid files and the input's secrets, and
  // another user of a shared build host must not reach them or plant links in it.
  if (chmod(work.path().c_str(), 0700) != 0) return FailErrno("chmod " + work.path());
  return work;
}

// The input as a tree we own (work/tree), and what it decides: the timestamp of every file
// and filesystem (SOURCE_DATE_EPOCH) and the seed everything random-looking is derived from.
struct StagedTree {
  std::string path;
  InputKind kind = InputKind::kDirectory;
  StagedInput input;
  int64_t sde = 0;
  std::string seed;
  std::vector<SetidFile> setid_files;  // of /usr and ROOT, for the SBOM
};

Result<StagedTree> StageTree(const BuildRequest& req, const std::string& work, Logger& log) {
  const ImageDefinition& def = req.definition;
  StagedTree staged;
  BASALT_ASSIGN_OR_RETURN(staged.kind, DetectInputKind(req.rootfs));
  log.Info(fmt::format("staging {} input {}", InputKindName(staged.kind), req.rootfs));
  staged.path = work + "/tree";
  const uint64_t max_input =
      def.max_input_size.value_or(DefaultMaxInputBytes(def.sizes.usr, def.sizes.root));
  BASALT_ASSIGN_OR_RETURN(staged.input,
                          StageInput(req.rootfs, staged.kind, staged.path, def.root_seed,
                                     def.source_date_epoch.value_or(INT64_MAX), max_input));
  if (staged.input.skipped_devices > 0) {
    log.Info(fmt::format("skipped {} device nodes and fifos under /dev (devtmpfs provides them)",
                         staged.input.skipped_devices));
  }
  // Found now: /usr is removed once its erofs image is built, before the SBOM is written.
  BASALT_ASSIGN_OR_RETURN(staged.setid_files, FindSetidFiles(staged.path, def.root_seed));
  staged.sde = def.source_date_epoch.value_or(staged.input.newest_mtime);
  staged.seed = def.seed.value_or(staged.input.digest);
  return staged;
}

// What every step after staging works with.
struct Build {
  const ImageDefinition& def;
  std::string input_name;  // "rootfs <path>": what messages about the tree's contents name
  std::string work;        // the work directory
  std::string out_dir;     // work/out, renamed to the output at the end
  int64_t sde;
  SeedDeriver derive;
  StepTimer& timer;
  Logger& log;
};

// A dpkg status database of a very large system is a few MiB.
constexpr uint64_t kMaxDpkgStatusBytes = 256ull << 20;

// Slot A's kernel and initramfs. Both live in /usr (docs/image.md:
// /usr/lib/modules/<kver>/{vmlinuz,initrd.img}), so verity covers them and the updater copies
// them from the new slot's /usr to the ESP; a fresh image's ESP gets the same bytes.
struct SlotBootFiles {
  KernelInfo kernel;
  std::string kernel_sha;  // hex
  std::string initrd_usr_path;
  std::string initramfs_sha;  // hex
  std::string kernel_bytes;   // for the ESP, which moves them out
  std::string initramfs;
};

Result<SlotBootFiles> PlaceKernelAndInitramfs(const Build& b, const std::string& tree_path,
                                              const std::string& basalt_init) {
  SlotBootFiles f;
  b.timer.Start("kernel");
  BASALT_ASSIGN_OR_RETURN(RootDir tree, RootDir::Open(tree_path, b.input_name));
  BASALT_ASSIGN_OR_RETURN(f.kernel, FindKernel(tree));
  BASALT_ASSIGN_OR_RETURN(f.kernel_bytes, PlaceKernelInUsr(tree, f.kernel, b.sde));
  f.kernel_sha = ToHex(Sha256(f.kernel_bytes));

  b.timer.Start("initramfs");
  b.log.Info(fmt::format("building the initramfs with {}", basalt_init));
  boot::InitramfsSpec spec;
  spec.tree = tree_path;
  spec.kernel_version = f.kernel.version;
  spec.basalt_init = basalt_init;
  auto initramfs = BuildInitramfs(spec, b.sde);
  if (!initramfs) return std::unexpected(initramfs.error().WithContext("initramfs"));
  f.initramfs = std::move(*initramfs);
  f.initrd_usr_path = fmt::format("/usr/lib/modules/{}/initrd.img", f.kernel.version);
  // A new inode (temp + rename): the staged tree may hold hardlinks to the input.
  BASALT_RETURN_IF_ERROR(tree.ReplaceFile(f.initrd_usr_path, f.initramfs, 0644));
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, tree.OpenAt(f.initrd_usr_path, O_RDONLY, Follow::kNever));
  if (fchown(fd.get(), 0, 0) != 0) return FailErrno("chown " + f.initrd_usr_path);
  timespec times[2] = {{b.sde, 0}, {b.sde, 0}};
  if (futimens(fd.get(), times) != 0) return FailErrno("futimens " + f.initrd_usr_path);
  f.initramfs_sha = ToHex(Sha256(f.initramfs));
  return f;
}

// The partition table, which depends only on the sizes and the seed.
struct DiskLayout {
  std::vector<disk::GptPartition> parts;  // in disk order: ESP, USR-A, USR-B, OEM, ROOT
  uint64_t size = 0;
  const disk::GptPartition& esp() const { return parts[0]; }
  const disk::GptPartition& usr_a() const { return parts[1]; }
  const disk::GptPartition& usr_b() const { return parts[2]; }
  const disk::GptPartition& oem() const { return parts[3]; }
  const disk::GptPartition& root() const { return parts[4]; }
};

// `usr_derive` names USR-A and USR-B; see the uki case in BuildImage.
DiskLayout PlanDisk(const PartitionSizes& sizes, const SeedDeriver& derive,
                    const SeedDeriver& usr_derive) {
  struct Plan {
    int number;
    const char* label;
    std::string_view type;
    uint64_t size;
    uint64_t attrs;
  };
  const Plan plan[] = {
      {1, "EFI-SYSTEM", disk::kEspTypeGuid, sizes.esp, 0},
      {3, "USR-A", disk::kUsrTypeGuid, sizes.usr, boot::FreshUsrAAttributes()},
      {4, "USR-B", disk::kUsrTypeGuid, sizes.usr, 0},
      {6, "OEM", disk::kLinuxDataTypeGuid, sizes.oem, 0},
      {9, "ROOT", disk::kCoreosRootTypeGuid, sizes.root, 0},
  };
  DiskLayout layout;
  uint64_t offset = kAlign;
  for (const Plan& p : plan) {
    disk::GptPartition g;
    g.number = static_cast<size_t>(p.number);
    g.label = p.label;
    g.type_guid = std::string(p.type);
    const bool usr = p.number == 3 || p.number == 4;
    g.uuid = (usr ? usr_derive : derive).Uuid(fmt::format("partition-{}", p.number));
    g.start_bytes = offset;
    g.size_bytes = p.size;
    g.attributes = p.attrs;
    offset += p.size;
    layout.parts.push_back(g);
  }
  layout.size = offset + kAlign;  // room for the backup GPT
  return layout;
}

// out/disk.img, sparse, with its GPT; the partitions are copied in by the steps that build them.
Result<UniqueFd> CreateDisk(const Build& b, const DiskLayout& layout) {
  if (mkdir(b.out_dir.c_str(), 0755) != 0) return FailErrno("mkdir " + b.out_dir);
  const std::string path = b.out_dir + "/disk.img";
  {
    BASALT_ASSIGN_OR_RETURN(UniqueFd disk, OpenFile(path, O_RDWR | O_CREAT | O_EXCL, 0644));
    if (ftruncate(disk.get(), static_cast<off_t>(layout.size)) != 0) {
      return FailErrno("ftruncate disk.img");
    }
  }
  BASALT_RETURN_IF_ERROR(disk::CreateGpt(path, b.derive.Uuid("disk-guid"), layout.parts));
  return OpenFile(path, O_RDWR);
}

// /usr as erofs with its dm-verity tree appended: out/usr.img (what payloads are made from),
// also copied into USR-A.
struct UsrImage {
  std::string path;
  uint64_t fs_size = 0;
  VerityResult verity;
  std::string sha;  // of the whole of usr.img
};

Result<UsrImage> BuildUsr(const Build& b, const std::string& usr_tree, int disk_fd,
                          const disk::GptPartition& usr_a) {
  UsrImage usr;
  usr.path = b.out_dir + "/usr.img";
  b.timer.Start("usr_erofs");
  b.log.Info("building /usr erofs");
  ErofsOptions erofs;
  erofs.compression = b.def.usr_compression;
  erofs.uuid = b.derive.Uuid("usr-erofs-uuid");
  erofs.timestamp = b.sde;
  BASALT_ASSIGN_OR_RETURN(usr.fs_size, MakeErofs(usr_tree, usr.path, erofs));
  b.timer.Start("usr_verity");
  BASALT_ASSIGN_OR_RETURN(
      usr.verity, AppendVerityTree(usr.path, usr.fs_size, b.derive.Bytes("usr-verity-salt", 32),
                                   b.derive.Uuid("usr-verity-uuid")));
  if (usr.verity.size > b.def.sizes.usr) {
    return Failf(ErrorKind::kInvalidInput,
                 "the /usr tree needs {} ({} erofs + {} hash tree), USR-A is {}; raise "
                 "partitions.usr_size",
                 HumanSize(usr.verity.size), HumanSize(usr.fs_size),
                 HumanSize(usr.verity.size - usr.fs_size), HumanSize(b.def.sizes.usr));
  }
  b.timer.Start("usr_copy");
  Hasher hasher(HashAlgorithm::kSha256);
  BASALT_RETURN_IF_ERROR(CopyIntoDisk(usr.path, disk_fd, usr_a.start_bytes, &hasher));
  usr.sha = ToHex(hasher.Final());
  return usr;
}

// The ESP: the backend's boot loader, config and state (boot/fresh_esp.h), and slot A's kernel
// and initramfs, as FAT32 copied into EFI-SYSTEM.
Status BuildEsp(const Build& b, const boot::SlotEntry& slot_a, SlotBootFiles& boot_files,
                UkiStepOutput* ukis, int disk_fd, const disk::GptPartition& esp) {
  b.timer.Start("esp");
  b.log.Info(fmt::format("building the ESP ({} backend)", b.def.boot_backend));
  boot::FreshEspOptions options;
  options.backend = b.def.boot_backend;
  options.slot_a = slot_a;
  options.scratch_dir = b.work;
  BASALT_ASSIGN_OR_RETURN(std::vector<boot::EspTextFile> fresh, boot::FreshEspFiles(options));
  std::vector<EspFile> files;
  // FreshEspFiles puts the boot loader last; with UKIs it is the signed copy.
  if (ukis != nullptr && !fresh.empty()) fresh.back().content = std::move(ukis->boot_loader);
  for (auto& f : fresh)
    files.push_back({std::move(f.path), std::move(f.content)});
  if (ukis != nullptr) {
    files.push_back(
        {boot::FindBootBackend(b.def.boot_backend)->fresh_uki_path, std::move(ukis->uki_a)});
  } else {
    files.push_back({boot::SlotKernelPath(boot::Slot::kA), std::move(boot_files.kernel_bytes)});
    files.push_back({boot::SlotInitrdPath(boot::Slot::kA), std::move(boot_files.initramfs)});
  }
  uint64_t bytes = 0;
  for (const auto& f : files)
    bytes += f.data.size();
  // FAT32 needs about 1 MiB of FATs and reserved sectors for a few hundred MiB.
  if (bytes + 2 * kMiB > b.def.sizes.esp) {
    return Failf(ErrorKind::kInvalidInput,
                 "the ESP files need {} (boot loader, kernel, initramfs), EFI-SYSTEM is {}; raise "
                 "partitions.esp_size",
                 HumanSize(bytes + 2 * kMiB), HumanSize(b.def.sizes.esp));
  }
  const std::string image = b.work + "/esp.img";
  VfatOptions vfat;
  vfat.volume_id = b.derive.U32("esp-volume-id");
  vfat.size = b.def.sizes.esp;
  vfat.timestamp = b.sde;
  BASALT_RETURN_IF_ERROR(MakeVfat(image, files, vfat, b.work));
  return CopyIntoDisk(image, disk_fd, esp.start_bytes, nullptr);
}

// work/<label>.img: an ext4 of the partition's size from `tree` (empty: an empty filesystem),
// its UUIDs derived from the label.
Result<std::string> MakeExt4Image(const Build& b, std::string_view label, uint64_t size,
                                  const std::string& tree) {
  std::string name(label);
  for (char& c : name)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string image = fmt::format("{}/{}.img", b.work, name);
  Ext4Options o;
  o.label = std::string(label);
  o.uuid = b.derive.Uuid(name + "-fs-uuid");
  o.hash_seed = b.derive.Uuid(name + "-fs-hash-seed");
  o.size = size;
  o.timestamp = b.sde;
  o.tree = tree;
  BASALT_RETURN_IF_ERROR(MakeExt4(image, o));
  return image;
}

// ROOT's tree (work/root): the seed entries, moved out of the staged tree, plus mount points.
Result<std::string> StageRootTree(const Build& b, const StagedTree& staged) {
  const std::string root_tree = b.work + "/root";
  BASALT_RETURN_IF_ERROR(MakeDir(root_tree, 0755));
  for (const auto& n : b.def.root_seed) {
    std::string from = staged.path + "/" + n;
    struct stat st;
    if (lstat(from.c_str(), &st) != 0) continue;
    if (rename(from.c_str(), (root_tree + "/" + n).c_str()) != 0) {
      return FailErrno("rename " + from);
    }
  }
  // A seed entry may already sit where a mount point goes; it is used only if it is a real
  // directory (never chmod/chown through a link the input put there).
  BASALT_ASSIGN_OR_RETURN(RootDir root, RootDir::Open(root_tree, b.input_name));
  for (const char* mp : {"usr", "boot", "dev", "proc", "run", "sys"}) {
    BASALT_RETURN_IF_ERROR(root.MakeDirs(mp, 0755));
    BASALT_ASSIGN_OR_RETURN(UniqueFd fd, root.OpenAt(mp, O_RDONLY | O_DIRECTORY, Follow::kNever));
    timespec times[2] = {{b.sde, 0}, {b.sde, 0}};
    if (fchmod(fd.get(), 0755) != 0 || fchown(fd.get(), 0, 0) != 0 ||
        futimens(fd.get(), times) != 0) {
      return FailErrno(fmt::format("mount point /{} in ROOT", mp));
    }
  }
  if (staged.kind == InputKind::kDirectory) {
    // Staged files are hardlinks to the input or already clamped copies: never touch them.
    BASALT_RETURN_IF_ERROR(SetTime(root_tree, b.sde));
  } else {
    BASALT_RETURN_IF_ERROR(ClampTimes(root_tree, b.sde));
  }
  return root_tree;
}

// The tree's installed packages, for the SBOM; nullopt when it has no dpkg database.
Result<std::optional<std::vector<DpkgPackage>>> ReadInstalledPackages(const Build& b,
                                                                      const std::string& tree) {
  // The tree's own database, links resolved inside the tree; a status "file" that is a FIFO, a
  // device or a link to the build host is refused or not found, never read.
  BASALT_ASSIGN_OR_RETURN(RootDir root, RootDir::Open(tree, b.input_name));
  const std::string status_path = "var/lib/dpkg/status";
  BASALT_ASSIGN_OR_RETURN(auto st, root.Stat(status_path));
  if (!st) return std::optional<std::vector<DpkgPackage>>();
  BASALT_ASSIGN_OR_RETURN(std::string text, root.ReadFile(status_path, kMaxDpkgStatusBytes));
  auto parsed = ParseDpkgStatus(text);
  if (!parsed) return std::unexpected(parsed.error().WithContext("/var/lib/dpkg/status"));
  return std::optional<std::vector<DpkgPackage>>(std::move(*parsed));
}

struct RootFs {
  std::string image;  // work/root.img
  std::optional<std::vector<DpkgPackage>> packages;
};

Result<RootFs> BuildRoot(const Build& b, const StagedTree& staged, BackgroundRemover& remover) {
  b.timer.Start("root_ext4");
  b.log.Info("building ROOT ext4");
  RootFs root;
  BASALT_ASSIGN_OR_RETURN(std::string tree, StageRootTree(b, staged));
  BASALT_ASSIGN_OR_RETURN(root.packages, ReadInstalledPackages(b, tree));
  BASALT_ASSIGN_OR_RETURN(root.image, MakeExt4Image(b, "ROOT", b.def.sizes.root, tree));
  remover.Remove(tree);
  return root;
}

// OEM and ROOT into disk.img, then everything made durable: disk.img is complete and closed.
Status AssembleDisk(const Build& b, UniqueFd disk, const DiskLayout& layout,
                    const std::string& oem_img, const std::string& root_img,
                    const std::string& usr_img) {
  b.timer.Start("disk");
  b.log.Info("assembling disk.img");
  BASALT_RETURN_IF_ERROR(CopyIntoDisk(oem_img, disk.get(), layout.oem().start_bytes, nullptr));
  BASALT_RETURN_IF_ERROR(CopyIntoDisk(root_img, disk.get(), layout.root().start_bytes, nullptr));
  if (fsync(disk.get()) != 0) return FailErrno("fsync disk.img");
  disk.Reset();
  BASALT_ASSIGN_OR_RETURN(UniqueFd u, OpenFile(usr_img, O_RDONLY));
  if (fsync(u.get()) != 0) return FailErrno("fsync usr.img");
  return {};
}

// out/sbom.spdx.json; returns its SHA-256 (hex) for the record.
Result<std::string> WriteSbom(const Build& b, const BuildRequest& req, const StagedTree& staged,
                              const RootFs& root) {
  SbomInputs in;
  in.os_name = b.def.os_name;
  in.version = b.def.version;
  in.input_digest = staged.input.digest;
  in.created = b.sde;
  in.builder_version = req.builder_version;
  in.packages = root.packages;
  in.setid_files = staged.setid_files;
  std::string text =
      MakeSpdx(in).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(b.out_dir + "/sbom.spdx.json", text));
  return ToHex(Sha256(text));
}

// image.json (docs/image.md).
nlohmann::json MakeRecord(const Build& b, const BuildRequest& req, const StagedTree& staged,
                          const SlotBootFiles& boot_files, const UsrImage& usr,
                          const DiskLayout& layout, const std::string& disk_sha,
                          const std::string& sbom_sha, const nlohmann::json& timings) {
  const ImageDefinition& def = b.def;
  nlohmann::json partitions = nlohmann::json::array();
  for (const auto& p : layout.parts) {
    partitions.push_back({{"number", p.number},
                          {"label", p.label},
                          {"type", p.type_guid},
                          {"uuid", p.uuid},
                          {"offset", p.start_bytes},
                          {"size", p.size_bytes}});
  }
  return {
      {"version", def.version},
      {"os_name", def.os_name},
      {"boot_backend", def.boot_backend},
      {"usr",
       {{"root_hash", usr.verity.root_hash},
        {"salt", usr.verity.salt},
        {"uuid", usr.verity.uuid},
        {"hash_algorithm", "sha256"},
        {"data_block_size", 4096},
        {"hash_block_size", 4096},
        {"data_blocks", usr.verity.data_blocks},
        {"hash_offset", usr.verity.hash_offset},
        {"size", usr.verity.size},
        {"filesystem", "erofs"},
        {"compression", UsrCompressionName(def.usr_compression)},
        {"partuuid", layout.usr_a().uuid},
        {"sha256", usr.sha}}},
      {"kernel",
       {{"version", boot_files.kernel.version},
        {"sha256", boot_files.kernel_sha},
        {"path", boot_files.kernel.usr_path},
        {"cmdline", def.kernel_cmdline}}},
      {"initramfs", {{"sha256", boot_files.initramfs_sha}, {"path", boot_files.initrd_usr_path}}},
      {"disk", {{"size", layout.size}, {"sha256", disk_sha}, {"partitions", partitions}}},
      {"input_digest", staged.input.digest},
      {"input_kind", InputKindName(staged.kind)},
      {"sbom", {{"path", "sbom.spdx.json"}, {"sha256", sbom_sha}}},
      {"builder", {{"name", "basalt"}, {"version", req.builder_version}}},
      {"source_date_epoch", b.sde},
      {"seed", staged.seed},
      {"timings_ms", timings},
  };
}

Status WriteRecord(const Build& b, const nlohmann::json& record) {
  BASALT_RETURN_IF_ERROR(
      WriteFileAtomic(b.out_dir + "/image.json",
                      record.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"));
  return FsyncDirectory(b.out_dir);
}

// An empty output directory is replaced, a missing one created by the rename.
Status MoveIntoPlace(const Build& b, const Destination& dest) {
  if (rename(b.out_dir.c_str(), dest.output.c_str()) != 0) {
    return FailErrno("rename into " + dest.output);
  }
  return FsyncDirectory(dest.parent);
}

}  // namespace

Result<nlohmann::json> BuildImage(const BuildRequest& req, Logger& log) {
  const auto total_start = std::chrono::steady_clock::now();
  nlohmann::json timings = nlohmann::json::object();
  StepTimer timer(&timings);

  BASALT_ASSIGN_OR_RETURN(Destination dest, CheckDestination(req.output));
  BASALT_ASSIGN_OR_RETURN(WorkDir work, MakeWorkDir(dest));
  BackgroundRemover remover;  // joined before `work` is removed

  timer.Start("stage");
  BASALT_ASSIGN_OR_RETURN(StagedTree staged, StageTree(req, work.path(), log));
  const Build b{.def = req.definition,
                .input_name = "rootfs " + req.rootfs,
                .work = work.path(),
                .out_dir = work.path() + "/out",
                .sde = staged.sde,
                .derive = SeedDeriver(staged.seed),
                .timer = timer,
                .log = log};
  BASALT_ASSIGN_OR_RETURN(SlotBootFiles boot_files,
                          PlaceKernelAndInitramfs(b, staged.path, req.basalt_init));

  timer.Start("gpt");
  const boot::BootBackend* backend = boot::FindBootBackend(b.def.boot_backend);
  const bool ukis_wanted = backend != nullptr && backend->fresh_uki_path != nullptr;
  if (req.pcr_policy_key && !ukis_wanted) {
    return Failf(ErrorKind::kInvalidInput,
                 "--pcr-policy-key signs UKIs' PCR policies: it needs --boot-backend uki, not {}",
                 b.def.boot_backend);
  }
  if (req.secure_boot && !ukis_wanted) {
    return Failf(ErrorKind::kInvalidInput,
                 "--secure-boot-key signs UKIs: it needs --boot-backend uki, not {}",
                 b.def.boot_backend);
  }
  // A release's UKI for slot B names USR-B's PARTUUID, and every host of the fleet must have
  // that PARTUUID whichever release its disk was built from: so with UKIs the two USR
  // partitions get UUIDs that do not depend on the seed (as Flatcar's USR-A and USR-B have
  // fixed UUIDs). docs/boot.md.
  const SeedDeriver usr_derive = ukis_wanted ? SeedDeriver("basalt-uki-usr-partitions") : b.derive;
  const DiskLayout layout = PlanDisk(b.def.sizes, b.derive, usr_derive);
  BASALT_ASSIGN_OR_RETURN(UniqueFd disk, CreateDisk(b, layout));

  BASALT_ASSIGN_OR_RETURN(UsrImage usr,
                          BuildUsr(b, staged.path + "/usr", disk.get(), layout.usr_a()));
  remover.Remove(staged.path + "/usr");

  const boot::SlotEntry slot_a{b.def.version, layout.usr_a().uuid, usr.verity.root_hash,
                               b.def.kernel_cmdline};
  std::optional<UkiStepOutput> ukis;
  if (ukis_wanted) {
    timer.Start("uki");
    log.Info(fmt::format("building the slots' UKIs ({})",
                         req.secure_boot ? "signed for Secure Boot" : "unsigned"));
    UkiStepInputs u;
    u.kernel_bytes = boot_files.kernel_bytes;
    u.initramfs = boot_files.initramfs;
    u.os_name = b.def.os_name;
    u.slots = {slot_a, slot_a};
    u.slots[1].usr_partuuid = layout.usr_b().uuid;
    u.source_date_epoch = b.sde;
    u.signer = req.secure_boot;
    u.pcr_policy_key = req.pcr_policy_key;
    boot::FreshEspOptions loader_options;
    BASALT_ASSIGN_OR_RETURN(u.boot_loader, backend->boot_loader(loader_options));
    u.work = b.work;
    u.out_dir = b.out_dir;
    BASALT_ASSIGN_OR_RETURN(ukis, BuildSlotUkis(u));
  }
  BASALT_RETURN_IF_ERROR(
      BuildEsp(b, slot_a, boot_files, ukis ? &*ukis : nullptr, disk.get(), layout.esp()));
  // Everything before OEM is final now: hash it while OEM and ROOT are built.
  DiskDigest disk_digest(b.out_dir + "/disk.img", layout.oem().start_bytes, layout.size);

  BASALT_ASSIGN_OR_RETURN(RootFs root, BuildRoot(b, staged, remover));
  timer.Start("oem_ext4");
  BASALT_ASSIGN_OR_RETURN(std::string oem_img, MakeExt4Image(b, "OEM", b.def.sizes.oem, ""));
  BASALT_RETURN_IF_ERROR(AssembleDisk(b, std::move(disk), layout, oem_img, root.image, usr.path));

  timer.Start("digests");
  BASALT_ASSIGN_OR_RETURN(std::string disk_sha, disk_digest.Finish());
  BASALT_ASSIGN_OR_RETURN(std::string sbom_sha, WriteSbom(b, req, staged, root));
  timer.Stop();
  timings["total"] = MillisecondsSince(total_start);
  nlohmann::json record =
      MakeRecord(b, req, staged, boot_files, usr, layout, disk_sha, sbom_sha, timings);
  if (ukis) record.update(ukis->record);
  BASALT_RETURN_IF_ERROR(WriteRecord(b, record));

  BASALT_RETURN_IF_ERROR(MoveIntoPlace(b, dest));
  log.Info(fmt::format("built {} ({} in {} ms)", dest.output, HumanSize(layout.size),
                       timings["total"].get<int64_t>()));
  return record;
}

}  // namespace basalt::image
