// Tarball and OCI image layout inputs, extracted with libarchive. Owners, modes, xattrs (file
// capabilities included), device nodes and hardlinks come from the archive headers; for an
// unprivileged build the whole process runs inside fakeroot (see image_cli.cc), which records
// what libarchive's chown/mknod/setxattr calls asked for and shows it to mkfs.erofs/mkfs.ext4.
//
// The input is hostile (docs/hostile-inputs.md, "Staging the input"). Before libarchive writes an
// entry, every parent of it is checked to be a real directory of the tree (or absent), and a
// hardlink's target to be a regular file of the tree, both without following a symlink; OCI
// whiteouts are applied through RootDir, never by joining strings. libarchive's own
// SECURE_SYMLINKS/NODOTDOT stay on as a second line.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <set>

#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/printable.h"
#include "common/root_dir.h"
#include "image/definition.h"
#include "input.h"
#include "oci_layout.h"
#include "whiteout.h"

namespace basalt::image {
namespace {

// The JSON documents of a layout are small; a bigger one is not a manifest.
constexpr uint64_t kMaxJsonBlob = 4 * kMiB;

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ArchiveReader = std::unique_ptr<archive, ReadFree>;
using ArchiveWriter = std::unique_ptr<archive, WriteFree>;

std::string ArchiveError(archive* a) {
  const char* e = archive_error_string(a);
  return Printable(e ? e : "unknown libarchive error");
}

// "./usr/bin/x" -> "usr/bin/x"; rejects ".." components. Empty means the root itself.
Result<std::string> CleanPath(std::string_view p, std::string_view what) {
  std::string out;
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t slash = p.find('/', pos);
    if (slash == std::string_view::npos) slash = p.size();
    std::string_view comp = p.substr(pos, slash - pos);
    if (comp == "..") {
      return Failf(ErrorKind::kInvalidInput, "{}: entry '{}' escapes the root with '..'", what,
                   Printable(p));
    }
    if (!comp.empty() && comp != ".") out += (out.empty() ? "" : "/") + std::string(comp);
    pos = slash + 1;
  }
  return out;
}

template <typename T>
Result<T> InContext(Result<T> r, const std::string& context) {
  if (!r) return std::unexpected(std::move(r).error().WithContext(context));
  return r;
}

// Reads an already open file (the fd the caller hashed), so what is extracted is what was
// checked, whatever happens to the path meanwhile.
Result<ArchiveReader> OpenArchive(int fd, std::string_view what) {
  if (lseek(fd, 0, SEEK_SET) != 0) return FailErrno(std::string(what) + ": seek");
  ArchiveReader a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK) {
    return Failf(ErrorKind::kInvalidInput, "{}: {}", what, ArchiveError(a.get()));
  }
  return a;
}

ArchiveWriter OpenDiskWriter() {
  ArchiveWriter w(archive_write_disk_new());
  // Numeric owners from the headers (no name lookup against the build host's passwd).
  archive_write_disk_set_options(
      w.get(), ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                   ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                   ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  return w;
}

// Opens a file of the input read-only, refusing anything but a regular file. O_NONBLOCK: a FIFO
// put where a blob belongs must not hang the build in open(2) (it has no effect on regular
// files, and is cleared anyway).
Result<UniqueFd> OpenBlob(const std::string& path, std::string_view what) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return FailErrno(std::string(what) + ": fstat " + path);
  if (!S_ISREG(st.st_mode)) {
    return Failf(ErrorKind::kInvalidInput, "{}: {} is not a regular file", what, Printable(path));
  }
  if (fcntl(fd.get(), F_SETFL, 0) != 0) return FailErrno(std::string(what) + ": fcntl " + path);
  return fd;
}

// A file of an OCI layout, `rel` resolved inside the layout directory: a blob or index.json that
// is a link to a file of the build host (whose digest an attacker may know) resolves to nothing.
// Looked at before it is opened, so a device node is never opened.
Result<UniqueFd> OpenLayoutFile(const RootDir& layout, const std::string& rel,
                                std::string_view what) {
  BASALT_ASSIGN_OR_RETURN(auto st, layout.Stat(rel));
  if (!st) {
    return Failf(ErrorKind::kInvalidInput, "{}: {} is missing from the layout", what,
                 Printable(rel));
  }
  if (!S_ISREG(st->st_mode)) {
    return Failf(ErrorKind::kInvalidInput, "{}: {}/{} is not a regular file", what,
                 Printable(layout.path()), Printable(rel));
  }
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, layout.OpenAt(rel, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  struct stat now;
  if (fstat(fd.get(), &now) != 0) return FailErrno(std::string(what) + ": fstat " + rel);
  if (now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
    return Failf(ErrorKind::kInvalidInput, "{}: {} changed while being opened", what,
                 Printable(rel));
  }
  if (fcntl(fd.get(), F_SETFL, 0) != 0) return FailErrno(std::string(what) + ": fcntl " + rel);
  return fd;
}

// A small JSON document of the layout, read from one fd.
Result<std::string> ReadSmallFile(const RootDir& layout, const std::string& rel,
                                  std::string_view what) {
  const std::string path = rel;
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenLayoutFile(layout, rel, what));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return FailErrno(std::string(what) + ": fstat " + path);
  if (static_cast<uint64_t>(st.st_size) > kMaxJsonBlob) {
    return Failf(ErrorKind::kInvalidInput, "{}: {} is {}, more than the {} allowed", what,
                 Printable(path), HumanSize(static_cast<uint64_t>(st.st_size)),
                 HumanSize(kMaxJsonBlob));
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  BASALT_RETURN_IF_ERROR(
      ReadFull(fd.get(), {reinterpret_cast<uint8_t*>(text.data()), text.size()}, what));
  return text;
}

Result<std::string> HashFd(int fd, std::string_view what) {
  struct stat st;
  if (fstat(fd, &st) != 0) return FailErrno(std::string(what) + ": fstat");
  BASALT_ASSIGN_OR_RETURN(Sha256Digest d,
                          Sha256Range(fd, 0, static_cast<uint64_t>(st.st_size), what));
  return "sha256:" + ToHex(d);
}

struct LayerState {
  // Paths (relative to the tree) this layer created, so an opaque marker only hides lower layers.
  std::set<std::string> written;
};

}  // namespace

Status ExtractArchive(int fd, const RootDir& root, const std::string& what, bool oci_layer,
                      ExtractBudget* budget, StagedInput* staged) {
  LayerState layer_state;
  LayerState* layer = oci_layer ? &layer_state : nullptr;
  BASALT_ASSIGN_OR_RETURN(ArchiveReader a, OpenArchive(fd, what));
  ArchiveWriter w = OpenDiskWriter();
  archive_entry* entry = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Failf(ErrorKind::kInvalidInput, "{}: {}", what, ArchiveError(a.get()));
    }
    const char* raw = archive_entry_pathname(entry);
    if (raw == nullptr) return Failf(ErrorKind::kInvalidInput, "{}: entry without a name", what);
    BASALT_ASSIGN_OR_RETURN(std::string rel, CleanPath(raw, what));
    const std::string erel = Printable(rel);
    const mode_t type = archive_entry_filetype(entry);
    if (layer != nullptr && BaseName(rel).starts_with(".wh.")) {
      BASALT_RETURN_IF_ERROR(ApplyWhiteout(root, rel, what, layer->written));
      continue;
    }
    if (rel.empty() && type != AE_IFDIR) {
      return Failf(ErrorKind::kInvalidInput, "{}: the root entry '{}' is not a directory", what,
                   Printable(raw));
    }
    if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO) {
      // devtmpfs provides /dev at boot; a device node anywhere else is a way into the host's
      // devices (a block device of the build host's disk, readable by a user of the image).
      if (rel.starts_with("dev/")) {
        ++staged->skipped_devices;
        continue;
      }
      return Failf(ErrorKind::kInvalidInput,
                   "{}: entry '{}' is a {} outside /dev; device nodes and fifos are refused "
                   "(under /dev they are skipped)",
                   what, erel,
                   type == AE_IFCHR   ? "character device"
                   : type == AE_IFBLK ? "block device"
                                      : "fifo");
    }
    if (type == AE_IFSOCK) continue;  // runtime objects
    BASALT_RETURN_IF_ERROR(CheckRealDirs(root, ParentPath(rel), what, rel, "entry"));
    const char* hardlink = archive_entry_hardlink(entry);
    std::string target;
    if (hardlink != nullptr) {
      BASALT_ASSIGN_OR_RETURN(target, CleanPath(hardlink, what));
      BASALT_RETURN_IF_ERROR(CheckRealDirs(root, ParentPath(target), what, rel, "hardlink"));
      BASALT_ASSIGN_OR_RETURN(std::optional<struct stat> st, root.Stat(target, Follow::kNever));
      if (target.empty() || !st || !S_ISREG(st->st_mode)) {
        return Failf(ErrorKind::kInvalidInput,
                     "{}: hardlink '{}' -> '{}': the target is not a regular file already in "
                     "the tree",
                     what, erel, Printable(target));
      }
    }
    const int64_t declared = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
    if (declared < 0) {
      return Failf(ErrorKind::kInvalidInput, "{}: entry '{}' has a negative size", what, erel);
    }
    if (hardlink == nullptr && type == AE_IFREG && declared > 0) {
      // The declared size, sparse or not: what the tree would hold, checked before any byte.
      if (static_cast<uint64_t>(declared) > budget->max_bytes - budget->used) {
        return Failf(ErrorKind::kInvalidInput,
                     "{}: entry '{}' ({}) takes the extracted input past the limit of {} "
                     "(--max-input-size)",
                     what, erel, HumanSize(static_cast<uint64_t>(declared)),
                     HumanSize(budget->max_bytes));
      }
      budget->used += static_cast<uint64_t>(declared);
    }
    ++staged->entries;
    staged->newest_mtime = std::max<int64_t>(staged->newest_mtime, archive_entry_mtime(entry));
    if (layer != nullptr) layer->written.insert(rel);
    archive_entry_set_pathname(entry, (root.path() + (rel.empty() ? "" : "/" + rel)).c_str());
    if (hardlink != nullptr)
      archive_entry_set_hardlink(entry, (root.path() + "/" + target).c_str());
    r = archive_write_header(w.get(), entry);
    if (r != ARCHIVE_OK) {
      return Failf(ErrorKind::kInvalidInput, "{}: extract '{}': {}", what, erel,
                   ArchiveError(w.get()));
    }
    if (declared > 0 && hardlink == nullptr) {
      const bool sparse = archive_entry_sparse_count(entry) > 0;
      uint64_t got = 0;
      const void* buf;
      size_t size;
      la_int64_t offset;
      for (;;) {
        r = archive_read_data_block(a.get(), &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK) {
          return Failf(ErrorKind::kInvalidInput, "{}: entry '{}' claims {} bytes, read {}: {}",
                       what, erel, declared, got, ArchiveError(a.get()));
        }
        got += size;
        if (archive_write_data_block(w.get(), buf, size, offset) != ARCHIVE_OK) {
          return Failf(ErrorKind::kIo, "{}: write '{}': {}", what, erel, ArchiveError(w.get()));
        }
      }
      if (!sparse && got != static_cast<uint64_t>(declared)) {
        return Failf(ErrorKind::kInvalidInput,
                     "{}: entry '{}' claims {} bytes but the archive holds {}", what, erel,
                     declared, got);
      }
    }
    if (archive_write_finish_entry(w.get()) != ARCHIVE_OK) {
      return Failf(ErrorKind::kIo, "{}: finish '{}': {}", what, erel, ArchiveError(w.get()));
    }
  }
  // Applies deferred directory modes and times.
  if (archive_write_close(w.get()) != ARCHIVE_OK) {
    return Failf(ErrorKind::kIo, "{}: {}", what, ArchiveError(w.get()));
  }
  return {};
}

namespace {

Status CheckUsr(const RootDir& root, const std::string& input) {
  BASALT_ASSIGN_OR_RETURN(std::optional<struct stat> st, root.Stat("usr", Follow::kNever));
  if (!st || !S_ISDIR(st->st_mode)) {
    return Failf(ErrorKind::kInvalidInput, "rootfs {} has no /usr directory", input);
  }
  return {};
}

// A JSON blob of the layout, read once and checked against its digest before it is parsed.
Result<std::string> ReadVerifiedBlob(const RootDir& layout, const std::string& digest,
                                     std::string_view what) {
  BASALT_ASSIGN_OR_RETURN(std::string text,
                          ReadSmallFile(layout, "blobs/sha256/" + digest.substr(7), what));
  if ("sha256:" + ToHex(Sha256(text)) != digest) {
    return Failf(ErrorKind::kIntegrity, "{}: blob {} does not match its digest", what, digest);
  }
  return text;
}

Result<RootDir> MakeTree(const std::string& tree, const std::string& input) {
  if (mkdir(tree.c_str(), 0755) != 0) return FailErrno("mkdir " + tree);
  return RootDir::Open(tree, "staged tree of " + input);
}

}  // namespace

Result<StagedInput> StageTarball(const std::string& input, const std::string& tree,
                                 uint64_t max_input_bytes) {
  const std::string what = "tarball " + Printable(input);
  BASALT_ASSIGN_OR_RETURN(RootDir root, MakeTree(tree, input));
  StagedInput staged;
  staged.kind = InputKind::kTarball;
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenBlob(input, what));
  BASALT_ASSIGN_OR_RETURN(staged.digest, HashFd(fd.get(), what));
  ExtractBudget budget{max_input_bytes, 0};
  BASALT_RETURN_IF_ERROR(ExtractArchive(fd.get(), root, what, false, &budget, &staged));
  BASALT_RETURN_IF_ERROR(CheckUsr(root, input));
  staged.extracted_bytes = budget.used;
  return staged;
}

Result<StagedInput> StageOci(const std::string& input, const std::string& tree,
                             uint64_t max_input_bytes) {
  const std::string what = "OCI layout " + Printable(input);
  BASALT_ASSIGN_OR_RETURN(RootDir layout, RootDir::Open(input, what));
  BASALT_ASSIGN_OR_RETURN(std::string index_text, ReadSmallFile(layout, "index.json", what));
  BASALT_ASSIGN_OR_RETURN(OciDescriptor manifest_desc, InContext(ParseOciIndex(index_text), what));
  BASALT_ASSIGN_OR_RETURN(std::string manifest_text,
                          ReadVerifiedBlob(layout, manifest_desc.digest, what + ": manifest"));
  BASALT_ASSIGN_OR_RETURN(OciManifest manifest, InContext(ParseOciManifest(manifest_text), what));
  BASALT_ASSIGN_OR_RETURN(std::string config_text,
                          ReadVerifiedBlob(layout, manifest.config.digest, what + ": config"));
  BASALT_RETURN_IF_ERROR(InContext(ParseOciConfig(config_text), what));
  BASALT_ASSIGN_OR_RETURN(RootDir root, MakeTree(tree, input));
  StagedInput staged;
  staged.kind = InputKind::kOci;
  staged.digest = manifest_desc.digest;
  ExtractBudget budget{max_input_bytes, 0};
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    const std::string layer_what = fmt::format("{}: layer {}", what, i + 1);
    const std::string& digest = manifest.layers[i].digest;
    // One open file: hashed, then extracted from the same fd, so the bytes checked are the
    // bytes extracted even if the path is swapped meanwhile.
    BASALT_ASSIGN_OR_RETURN(UniqueFd fd,
                            OpenLayoutFile(layout, "blobs/sha256/" + digest.substr(7), layer_what));
    BASALT_ASSIGN_OR_RETURN(std::string actual, HashFd(fd.get(), layer_what));
    if (actual != digest) {
      return Failf(ErrorKind::kIntegrity, "{} ({}) does not match its digest", layer_what, digest);
    }
    BASALT_RETURN_IF_ERROR(ExtractArchive(fd.get(), root, layer_what, true, &budget, &staged));
  }
  BASALT_RETURN_IF_ERROR(CheckUsr(root, input));
  staged.extracted_bytes = budget.used;
  return staged;
}

}  // namespace basalt::image
