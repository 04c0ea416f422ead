// Tarball and OCI image layout inputs, extracted with libarchive. Owners, modes, xattrs (file
// capabilities included), device nodes and hardlinks come from the archive headers; for an
// unprivileged build the whole process runs inside fakeroot (see image_cli.cc), which records
// what libarchive's chown/mknod/setxattr calls asked for and shows it to mkfs.erofs/mkfs.ext4.
#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "input.h"

namespace basalt::image {
namespace {

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
  return e ? e : "unknown libarchive error";
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
      return Failf(ErrorKind::kInvalidInput, "{}: entry '{}' escapes the root with '..'", what, p);
    }
    if (!comp.empty() && comp != ".") out += (out.empty() ? "" : "/") + std::string(comp);
    pos = slash + 1;
  }
  return out;
}

Result<ArchiveReader> OpenArchive(const std::string& path) {
  ArchiveReader a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return Failf(ErrorKind::kInvalidInput, "{}: {}", path, ArchiveError(a.get()));
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

struct LayerState {
  // Paths (relative to the tree) this layer created, so an opaque marker only hides lower layers.
  std::set<std::string> written;
};

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

// Extracts one tar stream into tree. With `layer` set, OCI whiteouts are applied.
Status Extract(const std::string& path, const std::string& tree, const std::string& what,
               LayerState* layer, StagedInput* staged) {
  BASALT_ASSIGN_OR_RETURN(ArchiveReader a, OpenArchive(path));
  ArchiveWriter w = OpenDiskWriter();
  archive_entry* entry = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Failf(ErrorKind::kInvalidInput, "{}: {}", what, ArchiveError(a.get()));
    }
    BASALT_ASSIGN_OR_RETURN(std::string rel, CleanPath(archive_entry_pathname(entry), what));
    std::string base = rel.substr(rel.rfind('/') == std::string::npos ? 0 : rel.rfind('/') + 1);
    std::string parent =
        rel.size() > base.size() ? rel.substr(0, rel.size() - base.size() - 1) : "";
    if (layer != nullptr && base.rfind(".wh.", 0) == 0) {
      std::string dir = tree + (parent.empty() ? "" : "/" + parent);
      if (base == ".wh..wh..opq") {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
          std::string child = (parent.empty() ? "" : parent + "/") + e.path().filename().string();
          if (!layer->written.contains(child)) RemoveTree(e.path().string());
        }
      } else {
        RemoveTree(dir + "/" + base.substr(4));
      }
      continue;
    }
    ++staged->entries;
    staged->newest_mtime = std::max<int64_t>(staged->newest_mtime, archive_entry_mtime(entry));
    if (layer != nullptr) layer->written.insert(rel);
    archive_entry_set_pathname(entry, (tree + (rel.empty() ? "" : "/" + rel)).c_str());
    if (const char* hl = archive_entry_hardlink(entry)) {
      BASALT_ASSIGN_OR_RETURN(std::string target, CleanPath(hl, what));
      archive_entry_set_hardlink(entry, (tree + "/" + target).c_str());
    }
    r = archive_write_header(w.get(), entry);
    if (r != ARCHIVE_OK) {
      return Failf(ErrorKind::kInvalidInput, "{}: extract '{}': {}", what, rel,
                   ArchiveError(w.get()));
    }
    if (archive_entry_size(entry) > 0 && archive_entry_hardlink(entry) == nullptr) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      for (;;) {
        r = archive_read_data_block(a.get(), &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK) {
          return Failf(ErrorKind::kInvalidInput, "{}: read '{}': {}", what, rel,
                       ArchiveError(a.get()));
        }
        if (archive_write_data_block(w.get(), buf, size, offset) != ARCHIVE_OK) {
          return Failf(ErrorKind::kIo, "{}: write '{}': {}", what, rel, ArchiveError(w.get()));
        }
      }
    }
    if (archive_write_finish_entry(w.get()) != ARCHIVE_OK) {
      return Failf(ErrorKind::kIo, "{}: finish '{}': {}", what, rel, ArchiveError(w.get()));
    }
  }
  // Applies deferred directory modes and times.
  if (archive_write_close(w.get()) != ARCHIVE_OK) {
    return Failf(ErrorKind::kIo, "{}: {}", what, ArchiveError(w.get()));
  }
  return {};
}

Status CheckUsr(const std::string& tree, const std::string& input) {
  struct stat st;
  if (lstat((tree + "/usr").c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Failf(ErrorKind::kInvalidInput, "rootfs {} has no /usr directory", input);
  }
  return {};
}

// An absent or non-string field reads as empty, which every caller then rejects by name.
std::string StringField(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<nlohmann::json> ReadVerifiedJsonBlob(const std::string& layout, const std::string& digest,
                                            std::string_view what) {
  if (digest.rfind("sha256:", 0) != 0 || digest.size() != 71 ||
      digest.find_first_not_of("0123456789abcdef", 7) != std::string::npos) {
    return Failf(ErrorKind::kInvalidInput, "{}: unsupported or malformed digest '{}'", what,
                 digest);
  }
  std::string path = layout + "/blobs/sha256/" + digest.substr(7);
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  if ("sha256:" + ToHex(Sha256(text)) != digest) {
    return Failf(ErrorKind::kIntegrity, "{}: blob {} does not match its digest", what, digest);
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return Failf(ErrorKind::kInvalidInput, "{}: {}", what, e.what());
  }
}

}  // namespace

Result<StagedInput> StageTarball(const std::string& input, const std::string& tree) {
  if (mkdir(tree.c_str(), 0755) != 0) return FailErrno("mkdir " + tree);
  StagedInput staged;
  staged.kind = InputKind::kTarball;
  BASALT_ASSIGN_OR_RETURN(Sha256Digest digest, Sha256File(input));
  staged.digest = "sha256:" + ToHex(digest);
  BASALT_RETURN_IF_ERROR(Extract(input, tree, "tarball " + input, nullptr, &staged));
  BASALT_RETURN_IF_ERROR(CheckUsr(tree, input));
  return staged;
}

Result<StagedInput> StageOci(const std::string& input, const std::string& tree) {
  std::string what = "OCI layout " + input;
  BASALT_ASSIGN_OR_RETURN(std::string index_text, ReadFileToString(input + "/index.json"));
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(index_text);
  } catch (const nlohmann::json::exception& e) {
    return Failf(ErrorKind::kInvalidInput, "{}: index.json: {}", what, e.what());
  }
  if (!index.contains("manifests") || !index["manifests"].is_array() ||
      index["manifests"].empty()) {
    return Failf(ErrorKind::kInvalidInput, "{}: index.json lists no manifests", what);
  }
  // Prefer linux/amd64 when the index names platforms; otherwise the only/first manifest.
  nlohmann::json chosen = index["manifests"][0];
  for (const auto& m : index["manifests"]) {
    if (!m.is_object()) {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: index.json has a manifest entry that is not an object", what);
    }
    auto platform = m.find("platform");
    if (platform != m.end() && platform->is_object() && StringField(*platform, "os") == "linux" &&
        StringField(*platform, "architecture") == "amd64") {
      chosen = m;
      break;
    }
  }
  if (!chosen.contains("digest") || !chosen["digest"].is_string()) {
    return Failf(ErrorKind::kInvalidInput, "{}: manifest entry has no digest", what);
  }
  std::string manifest_digest = chosen["digest"];
  BASALT_ASSIGN_OR_RETURN(nlohmann::json manifest,
                          ReadVerifiedJsonBlob(input, manifest_digest, what + ": manifest"));
  if (manifest.contains("manifests")) {
    return Failf(ErrorKind::kUnsupported, "{}: nested image indexes are not supported", what);
  }
  if (!manifest.contains("layers") || !manifest["layers"].is_array()) {
    return Failf(ErrorKind::kInvalidInput, "{}: manifest {} has no layers", what, manifest_digest);
  }
  if (mkdir(tree.c_str(), 0755) != 0) return FailErrno("mkdir " + tree);
  StagedInput staged;
  staged.kind = InputKind::kOci;
  staged.digest = manifest_digest;
  int n = 0;
  for (const auto& layer : manifest["layers"]) {
    ++n;
    if (!layer.is_object()) {
      return Failf(ErrorKind::kInvalidInput, "{}: layer {} is not an object", what, n);
    }
    std::string digest = StringField(layer, "digest");
    std::string media = StringField(layer, "mediaType");
    if (media.find("nondistributable") != std::string::npos) {
      return Failf(ErrorKind::kUnsupported, "{}: layer {} is non-distributable", what, n);
    }
    if (digest.rfind("sha256:", 0) != 0 || digest.size() != 71 ||
        digest.find_first_not_of("0123456789abcdef", 7) != std::string::npos) {
      return Failf(ErrorKind::kInvalidInput, "{}: layer {} has a malformed digest '{}'", what, n,
                   digest);
    }
    std::string blob = input + "/blobs/sha256/" + digest.substr(7);
    // Verified before a byte of it is extracted.
    BASALT_ASSIGN_OR_RETURN(Sha256Digest actual, Sha256File(blob));
    if ("sha256:" + ToHex(actual) != digest) {
      return Failf(ErrorKind::kIntegrity, "{}: layer {} ({}) does not match its digest", what, n,
                   digest);
    }
    LayerState state;
    BASALT_RETURN_IF_ERROR(
        Extract(blob, tree, fmt::format("{}: layer {}", what, n), &state, &staged));
  }
  BASALT_RETURN_IF_ERROR(CheckUsr(tree, input));
  return staged;
}

}  // namespace basalt::image
