// The hostile-input suite (issue #17, docs/hostile-inputs.md "The hostile-input suite"). Each
// case is a root filesystem built to make `basalt image build` read or write outside its tree:
// symlinks and hardlinks escaping it, whiteouts through symlinks, module lists naming files
// outside, names no one expects, archives that lie about their sizes. Outside the tree sit a
// canary file (64 random bytes) and a canary directory. Each case is built in every form it
// applies to (directory, tarball, OCI layout; `basalt boot initramfs` for the module cases),
// once as root and once as an unprivileged user (through fakeroot), and must end in one of:
//   built OK  - and the canary's bytes are in no output: disk.img, usr.img, image.json, the
//               SBOM, every file of usr.img (extracted), every ESP file, every initramfs entry;
//               the kernel is the tree's own;
//   refused   - exit 3 (4 for an OCI digest mismatch, docs/image.md) with the failure as one
//               `basalt: error:` line, the last on stderr, and no output directory.
// In both cases the canary file and directory are unchanged, nothing appeared next to them, the
// input is unchanged and nothing is left outside --output (TMPDIR included). Anything else is a
// VIOLATION. Every run prints one line "<case>/<form> [root|user]: ..." (and appends it to
// $BASALT_HOSTILE_REPORT when set), so the suite doubles as the status table of the fixes.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/hash.h"
#include "common/hex.h"
#include "integration/image_test_util.h"

namespace basalt::image::testing {
namespace {
namespace fs = std::filesystem;

constexpr char kKver[] = "6.1.0";
constexpr uid_t kNobody = 65534;
// The input size limit `basalt image build` gets in issue #17 (another branch). The cases that
// need it (gzip bomb, 10 GiB sparse file in /usr) look for this flag in `--help`; without it
// they would write gigabytes, so they report a violation instead of running.
constexpr char kInputLimitFlag[] = "--max-input-size";
constexpr char kInputLimitValue[] = "64MiB";

// ---------------------------------------------------------------------------------------------
// The input, as a list of entries. Paths and link targets may hold placeholders, replaced per
// run: @CANARY@ and @CANARYDIR@ (absolute paths), @UP@ (enough "../" to climb from any depth
// of any tree to /, so "@UP@@CANARY@" is a relative link to the canary).

struct Entry {
  enum Type { kFile, kDir, kSymlink, kHardlink, kSparse } type;
  std::string path;
  std::string data;  // file contents, or link target
  mode_t mode = 0644;
  uint64_t sparse_size = 0;
};
using Layer = std::vector<Entry>;

Entry File(std::string path, std::string data, mode_t mode = 0644) {
  return {Entry::kFile, std::move(path), std::move(data), mode};
}
Entry Dir(std::string path) {
  return {Entry::kDir, std::move(path), "", 0755};
}
Entry Link(std::string path, std::string target) {
  return {Entry::kSymlink, std::move(path), std::move(target), 0777};
}
Entry Hard(std::string path, std::string target) {
  return {Entry::kHardlink, std::move(path), std::move(target), 0644};
}
Entry Sparse(std::string path, uint64_t size) {
  Entry e{Entry::kSparse, std::move(path), "", 0644};
  e.sparse_size = size;
  return e;
}

std::string Kernel() {
  std::string k(256 * 1024, '\0');
  for (size_t i = 0; i < k.size(); ++i)
    k[i] = static_cast<char>((i * 2654435761u) >> 11);
  return k;
}

// A small bootable tree (everything world-readable, so the unprivileged build can read it):
// the kernel stand-in in /boot, an empty module directory (everything built in), the files
// the builder reads (os-release, dpkg status).
Layer BaseTree() {
  return {Dir("usr"),
          Dir("usr/bin"),
          File("usr/bin/hello", "#!/bin/sh\necho hello\n", 0755),
          Dir("usr/lib"),
          Dir("usr/lib/modules"),
          Dir(std::string("usr/lib/modules/") + kKver),
          File("usr/lib/os-release", "ID=hostile\nNAME=\"Hostile input test\"\n"),
          Dir("usr/share"),
          Link("bin", "usr/bin"),
          Link("lib", "usr/lib"),
          Dir("boot"),
          File(std::string("boot/vmlinuz-") + kKver, Kernel()),
          Dir("etc"),
          Link("etc/os-release", "../usr/lib/os-release"),
          File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
          Dir("var"),
          Dir("var/lib"),
          Dir("var/lib/dpkg"),
          File("var/lib/dpkg/status",
               "Package: hello\nStatus: install ok installed\nArchitecture: amd64\n"
               "Version: 1.0\n\n")};
}

bool Under(const std::string& path, const std::string& top) {
  return path == top || path.starts_with(top + "/");
}

// The base tree with the case's entries: a base entry at or below a path the case sets is
// dropped, as if the case's tree simply had that entry instead.
Layer Merge(const Layer& base, const Layer& over) {
  Layer out;
  for (const Entry& b : base) {
    bool replaced = false;
    for (const Entry& o : over) {
      if (o.type != Entry::kDir && Under(b.path, o.path)) replaced = true;
      if (o.type == Entry::kDir && b.path == o.path) replaced = true;
    }
    if (!replaced) out.push_back(b);
  }
  out.insert(out.end(), over.begin(), over.end());
  return out;
}

enum class Form { kDirectory, kTarball, kTarGz, kOci, kInitramfsCli };
const char* FormName(Form f) {
  switch (f) {
    case Form::kDirectory:
      return "dir";
    case Form::kTarball:
      return "tar";
    case Form::kTarGz:
      return "tar.gz";
    case Form::kOci:
      return "oci";
    case Form::kInitramfsCli:
      return "boot-initramfs";
  }
  return "?";
}

struct Case {
  std::string name;
  std::vector<Layer> layers;  // on top of BaseTree(); the directory and tarball forms merge them
  std::vector<Form> forms;
  // Tarball: cut the file this many bytes before its end (a last entry that claims more bytes
  // than the archive holds).
  uint64_t truncate_tar = 0;
  // OCI: append to the last layer's blob after the manifest names its digest.
  bool tamper_blob = false;
  // OCI: the manifest lists its first layer twice.
  bool layer_twice = false;
  bool needs_input_limit = false;
  int refusal_code = 3;
};

// ---------------------------------------------------------------------------------------------
// Per run: the case directory holds input/, outside/ (the canaries), tmp/ (TMPDIR), out/.

struct CaseRun {
  std::string dir;          // the case directory
  std::string canary;       // the 64 random bytes
  std::string canary_path;  // outside/canary
  std::string canary_dir;   // outside/canary-dir
  std::string input;        // what --rootfs names
};

std::string Resolve(std::string s, const CaseRun& run) {
  auto replace = [&](const std::string& from, const std::string& to) {
    for (size_t p; (p = s.find(from)) != std::string::npos;)
      s.replace(p, from.size(), to);
  };
  std::string up;
  for (int i = 0; i < 24; ++i)
    up += "../";
  // Relative: "@UP@@CANARY@" becomes "../../..//var/tmp/..."; the doubled slash is harmless.
  replace("@UP@", up);
  replace("@CANARYDIR@", run.canary_dir);
  replace("@CANARY@", run.canary_path);
  return s;
}

void Check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}

// Creates the entries in a directory, never through a symlink of the tree itself (every parent
// is opened with O_NOFOLLOW), so making a case cannot touch the canaries.
void MakeDirectory(const Layer& layer, const std::string& root, const CaseRun& run) {
  fs::create_directories(root);
  for (const Entry& e : layer) {
    std::string path = Resolve(e.path, run);
    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    int dfd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    Check(dfd >= 0, "open " + root);
    size_t pos = 0;
    while (pos < parent.size()) {
      size_t end = parent.find('/', pos);
      if (end == std::string::npos) end = parent.size();
      std::string comp = parent.substr(pos, end - pos);
      int next = openat(dfd, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      Check(next >= 0, "open parent " + comp + " of " + path);
      close(dfd);
      dfd = next;
      pos = end + 1;
    }
    std::string data = Resolve(e.data, run);
    switch (e.type) {
      case Entry::kDir:
        Check(mkdirat(dfd, name.c_str(), e.mode) == 0, "mkdir " + path);
        break;
      case Entry::kSymlink:
        Check(symlinkat(data.c_str(), dfd, name.c_str()) == 0, "symlink " + path);
        break;
      case Entry::kHardlink:
        Check(linkat(AT_FDCWD, (root + "/" + data).c_str(), dfd, name.c_str(), 0) == 0,
              "link " + path);
        break;
      case Entry::kFile:
      case Entry::kSparse: {
        int fd =
            openat(dfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e.mode);
        Check(fd >= 0, "create " + path);
        if (e.type == Entry::kSparse) {
          Check(ftruncate(fd, static_cast<off_t>(e.sparse_size)) == 0, "truncate " + path);
        } else {
          Check(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()),
                "write " + path);
        }
        Check(fchmod(fd, e.mode) == 0, "chmod " + path);
        close(fd);
        break;
      }
    }
    close(dfd);
  }
}

// A tar (pax) of the entries, in order, owned by root; gzip-compressed when `gzip`.
void MakeTar(const Layer& layer, const std::string& file, bool gzip, const CaseRun& run) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  Check(archive_write_open_filename(a, file.c_str()) == ARCHIVE_OK, "open " + file);
  for (const Entry& e : layer) {
    archive_entry* ae = archive_entry_new();
    std::string path = Resolve(e.path, run);
    std::string data = Resolve(e.data, run);
    archive_entry_set_pathname(ae, path.c_str());
    archive_entry_set_uid(ae, 0);
    archive_entry_set_gid(ae, 0);
    archive_entry_set_mtime(ae, 1600000000, 0);
    archive_entry_set_perm(ae, e.mode);
    std::string body;
    switch (e.type) {
      case Entry::kDir:
        archive_entry_set_filetype(ae, AE_IFDIR);
        break;
      case Entry::kSymlink:
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_symlink(ae, data.c_str());
        break;
      case Entry::kHardlink:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_hardlink(ae, data.c_str());
        break;
      case Entry::kFile:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, static_cast<la_int64_t>(data.size()));
        body = data;
        break;
      case Entry::kSparse:  // as many zeros; only used compressed (the gzip bomb)
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, static_cast<la_int64_t>(e.sparse_size));
        break;
    }
    if (int r = archive_write_header(a, ae); r < ARCHIVE_WARN) {
      const char* why = archive_error_string(a);
      throw std::runtime_error("tar header of " + path + ": " + (why ? why : std::to_string(r)));
    }
    if (e.type == Entry::kSparse) {
      std::string zeros(1 << 20, '\0');
      for (uint64_t done = 0; done < e.sparse_size; done += zeros.size())
        archive_write_data(a, zeros.data(), std::min<uint64_t>(zeros.size(), e.sparse_size - done));
    } else if (!body.empty()) {
      archive_write_data(a, body.data(), body.size());
    }
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::string Sha(const std::string& path) {
  auto d = Sha256File(path);
  if (!d) throw std::runtime_error(d.error().message());
  return ToHex(*d);
}

std::string AddBlob(const std::string& layout, const std::string& file) {
  std::string sha = Sha(file);
  fs::create_directories(layout + "/blobs/sha256");
  fs::copy_file(file, layout + "/blobs/sha256/" + sha, fs::copy_options::overwrite_existing);
  return sha;
}

// An OCI layout: layer 1 is the base tree plus the case's first layer, then one layer per
// further case layer.
void MakeOci(const Case& c, const std::string& layout, const std::string& scratch,
             const CaseRun& run) {
  std::vector<Layer> layers = c.layers;
  layers[0] = Merge(BaseTree(), layers[0]);
  nlohmann::json jlayers = nlohmann::json::array();
  std::string last;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string tgz = scratch + "/layer" + std::to_string(i) + ".tar.gz";
    MakeTar(layers[i], tgz, true, run);
    last = AddBlob(layout, tgz);
    nlohmann::json l = {{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                        {"digest", "sha256:" + last},
                        {"size", fs::file_size(tgz)}};
    jlayers.push_back(l);
    if (i == 0 && c.layer_twice) jlayers.push_back(l);
  }
  auto json_blob = [&](const nlohmann::json& j, const std::string& name) {
    std::ofstream(scratch + "/" + name) << j.dump();
    return AddBlob(layout, scratch + "/" + name);
  };
  nlohmann::json config = {
      {"architecture", "amd64"}, {"os", "linux"}, {"rootfs", {{"type", "layers"}}}};
  std::string cfg = json_blob(config, "config.json");
  nlohmann::json manifest = {{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"config",
                              {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                               {"digest", "sha256:" + cfg},
                               {"size", fs::file_size(scratch + "/config.json")}}},
                             {"layers", jlayers}};
  std::string m = json_blob(manifest, "manifest.json");
  nlohmann::json index = {{"schemaVersion", 2},
                          {"manifests",
                           {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"digest", "sha256:" + m},
                             {"size", fs::file_size(scratch + "/manifest.json")}}}}};
  std::ofstream(layout + "/index.json") << index.dump();
  std::ofstream(layout + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  if (c.tamper_blob) std::ofstream(layout + "/blobs/sha256/" + last, std::ios::app) << "tampered";
}

// ---------------------------------------------------------------------------------------------
// Observing: snapshots of a tree (without following symlinks), the canary scan.

// path -> "type mode size sha|target", for every entry below `root` (not following symlinks).
std::map<std::string, std::string> Snapshot(const std::string& root) {
  std::map<std::string, std::string> snap;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(root, ec))) return snap;
  auto one = [&](const fs::path& p) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) return;
    std::string what = fmt::format("{:o} {}", st.st_mode, S_ISDIR(st.st_mode) ? 0 : st.st_size);
    if (S_ISLNK(st.st_mode)) what += " -> " + fs::read_symlink(p, ec).string();
    if (S_ISREG(st.st_mode) && st.st_size < (64 << 20)) what += " " + Sha(p.string());
    snap[fs::relative(p, root, ec).string()] = what;
  };
  one(root);
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    one(it->path());
  }
  return snap;
}

std::string SnapshotDiff(const std::map<std::string, std::string>& a,
                         const std::map<std::string, std::string>& b) {
  std::string d;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end())
      d += " removed " + k + ";";
    else if (it->second != v)
      d += " changed " + k + ";";
  }
  for (const auto& [k, v] : b) {
    if (!a.contains(k)) d += " added " + k + ";";
  }
  return d;
}

// Whether `needle` occurs in the file; reads only its data extents (disk.img is sparse).
bool FileContains(const std::string& path, const std::string& needle) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  struct stat st;
  fstat(fd, &st);
  bool found = false;
  std::vector<char> buf((4 << 20) + needle.size());
  off_t pos = 0;
  while (!found && pos < st.st_size) {
    off_t data = lseek(fd, pos, SEEK_DATA);
    if (data < 0) break;
    off_t hole = lseek(fd, data, SEEK_HOLE);
    // A match may straddle two reads: keep needle.size() - 1 bytes of overlap.
    for (off_t at = data; at < hole && !found;) {
      size_t want = static_cast<size_t>(std::min<off_t>(hole - at, static_cast<off_t>(buf.size())));
      ssize_t n = pread(fd, buf.data(), want, at);
      if (n <= 0) break;
      found = memmem(buf.data(), static_cast<size_t>(n), needle.data(), needle.size()) != nullptr;
      if (static_cast<size_t>(n) < needle.size()) break;
      at += n - static_cast<off_t>(needle.size()) + 1;
      if (at + static_cast<off_t>(needle.size()) > hole) break;
    }
    pos = hole;
  }
  close(fd);
  return found;
}

// The data of every entry of a newc cpio archive (the initramfs is uncompressed, docs/image.md).
std::vector<std::pair<std::string, std::string>> CpioEntries(const std::string& archive) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(archive, std::ios::binary);
  std::string a((std::istreambuf_iterator<char>(in)), {});
  size_t pos = 0;
  auto hex = [&](size_t off) { return std::stoul(a.substr(pos + off, 8), nullptr, 16); };
  while (pos + 110 <= a.size() && a.compare(pos, 6, "070701") == 0) {
    size_t filesize = hex(54), namesize = hex(94);
    std::string name = a.substr(pos + 110, namesize ? namesize - 1 : 0);
    size_t data = (pos + 110 + namesize + 3) & ~size_t{3};
    if (name == "TRAILER!!!") break;
    out.emplace_back(name, a.substr(std::min(data, a.size()), filesize));
    pos = (data + filesize + 3) & ~size_t{3};
  }
  return out;
}

// Everything a successful build put out, searched for the canary. Returns what contains it.
std::vector<std::string> ScanOutputs(const std::string& out, const std::string& scratch,
                                     const std::string& canary) {
  std::vector<std::string> hits;
  for (const char* f : {"disk.img", "usr.img", "image.json", "sbom.spdx.json"}) {
    if (FileContains(out + "/" + f, canary)) hits.push_back(f);
  }
  auto scan_tree = [&](const std::string& root, const std::string& label) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
      std::string rel = label + "/" + fs::relative(it->path(), root, ec).string();
      if (FileContains(it->path(), canary)) hits.push_back(rel);
      if (it->path().filename() == "initrd.img") {
        for (const auto& [name, data] : CpioEntries(it->path()))
          if (data.find(canary) != std::string::npos) hits.push_back(rel + ":" + name);
      }
    }
  };
  std::string usr = scratch + "/usr-extract";
  auto r = Sh("fsck.erofs --extract=" + Quote(usr) + " " + Quote(out + "/usr.img") + " 2>&1");
  if (r.status != 0) hits.push_back("usr.img (fsck.erofs --extract failed: " + r.output + ")");
  scan_tree(usr, "usr.img");
  std::ifstream in(out + "/image.json");
  auto j = nlohmann::json::parse(in);
  for (const auto& p : j["disk"]["partitions"]) {
    if (p["label"] != "EFI-SYSTEM") continue;
    std::string esp = scratch + "/esp-extract";
    fs::create_directories(esp);
    auto m = Sh("MTOOLS_SKIP_CHECK=1 mcopy -s -n -i " + Quote(out + "/disk.img") + "@@" +
                std::to_string(p["offset"].get<uint64_t>()) + " ::/ " + Quote(esp) + " 2>&1");
    if (m.status != 0) hits.push_back("ESP (mcopy failed: " + m.output + ")");
    scan_tree(esp, "ESP");
  }
  return hits;
}

// ---------------------------------------------------------------------------------------------

class HostileInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in("/dev/urandom", std::ios::binary);
    canary_.resize(64);
    in.read(canary_.data(), 64);
    auto help = Sh(BasaltBin() + " image build --help");
    have_input_limit_ = help.output.find(kInputLimitFlag) != std::string::npos;
  }

  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "not root: the suite makes inputs owned by root and builds as root and "
                      "as an unprivileged user";
    }
    std::string missing = basalt::testing::MissingTool(
        {"setpriv", "fakeroot", "fsck.erofs", "mcopy", "mkfs.erofs", "mkfs.fat", "mkfs.ext4"});
    if (!missing.empty()) GTEST_SKIP() << missing << " not installed";
  }

  // One form, one user. Returns "" or the violation.
  std::string RunOne(const Case& c, Form form, bool as_user, std::string* outcome) {
    TempDir tmp;
    CaseRun run;
    run.dir = tmp.path() + "/case";
    run.canary = canary_;
    run.canary_path = run.dir + "/outside/canary";
    run.canary_dir = run.dir + "/outside/canary-dir";
    const uid_t owner = as_user ? kNobody : 0;
    MakeCanaries(run, owner);
    fs::create_directories(run.dir + "/tmp");
    fs::create_directories(run.dir + "/input");
    std::string scratch = tmp.path() + "/scratch";  // not visible to the build
    fs::create_directories(scratch);

    Layer flat = Merge(BaseTree(), {});
    for (const Layer& l : c.layers)
      flat = Merge(flat, l);
    switch (form) {
      case Form::kDirectory:
      case Form::kInitramfsCli:
        run.input = run.dir + "/input/tree";
        MakeDirectory(flat, run.input, run);
        break;
      case Form::kTarball:
      case Form::kTarGz:
        run.input = run.dir + "/input/rootfs.tar" + (form == Form::kTarGz ? ".gz" : "");
        MakeTar(flat, run.input, form == Form::kTarGz, run);
        if (c.truncate_tar > 0)
          fs::resize_file(run.input, fs::file_size(run.input) - c.truncate_tar);
        break;
      case Form::kOci:
        run.input = run.dir + "/input/layout";
        fs::create_directories(run.input);
        MakeOci(c, run.input, scratch, run);
        break;
    }
    Sh("chmod -R a+rX " + Quote(run.dir + "/input"));
    if (as_user) {
      for (const char* d : {"", "/tmp"})
        Check(chown((run.dir + d).c_str(), owner, owner) == 0, "chown");
    }
    chmod(tmp.path().c_str(), 0755);

    auto outside_before = Snapshot(run.dir + "/outside");
    auto input_before = Snapshot(run.dir + "/input");

    std::string cmd;
    std::string out = run.dir + "/out";
    if (form == Form::kInitramfsCli) {
      fs::create_directories(out);
      if (as_user) Check(chown(out.c_str(), owner, owner) == 0, "chown out");
      // Unlike `image build`, `boot initramfs` does not re-run itself under fakeroot, and as a
      // plain user it cannot make the initramfs's device nodes (mknod dev/console: EPERM).
      cmd = std::string(as_user ? "fakeroot -- " : "") + BasaltBin() + " boot initramfs --tree " +
            Quote(run.input) + " --kernel-version " + kKver + " --init " +
            Quote(fs::path(BasaltBin()).parent_path() / "basalt-init") + " --output-dir " +
            Quote(out);
    } else {
      cmd = BasaltBin() + " image build --rootfs " + Quote(run.input) + " --output " + Quote(out) +
            " " + SmallSizes() + " --seed s --source-date-epoch 1600000000";
      if (c.needs_input_limit) cmd += std::string(" ") + kInputLimitFlag + " " + kInputLimitValue;
    }
    // In the asan preset libfakeroot is preloaded ahead of the sanitizer runtime (image build
    // sets this itself when it re-runs under fakeroot; boot initramfs is wrapped here).
    std::string env = "env TMPDIR=" + Quote(run.dir + "/tmp") + " HOME=" + Quote(run.dir) +
                      " ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0\"";
    std::string full = "cd " + Quote(run.dir) + " && " +
                       (as_user ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "") +
                       env + " " + cmd + " >" + Quote(scratch + "/stdout") + " 2>" +
                       Quote(scratch + "/stderr");
    int rc = Sh(full).status;
    std::string err;
    {
      std::ifstream in(scratch + "/stderr");
      err.assign(std::istreambuf_iterator<char>(in), {});
    }

    std::string violations;
    auto violation = [&](const std::string& v) {
      violations += (violations.empty() ? "" : "; ") + v;
    };
    if (auto d = SnapshotDiff(outside_before, Snapshot(run.dir + "/outside")); !d.empty())
      violation("canaries touched:" + d);
    if (auto d = SnapshotDiff(input_before, Snapshot(run.dir + "/input")); !d.empty())
      violation("input changed:" + d);
    std::set<std::string> allowed = {"input", "outside", "tmp", "out"};
    for (const auto& e : fs::directory_iterator(run.dir)) {
      if (!allowed.contains(e.path().filename().string()))
        violation("left outside --output: " + e.path().filename().string());
    }
    for (const auto& e : fs::directory_iterator(run.dir + "/tmp"))
      violation("left in TMPDIR: " + e.path().filename().string());

    if (rc == 0 && form == Form::kInitramfsCli) {
      *outcome = "staged OK";
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(out, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && !it->is_symlink(ec) && FileContains(it->path(), canary_))
          violation("canary bytes in staged " + fs::relative(it->path(), out).string());
      }
    } else if (rc == 0) {
      *outcome = "built OK";
      for (const std::string& hit : ScanOutputs(out, scratch, canary_))
        violation("canary bytes in " + hit);
      std::ifstream in(out + "/image.json");
      auto j = nlohmann::json::parse(in, nullptr, false);
      std::string kernel_sha = ToHex(Sha256(Kernel()));
      if (j.is_discarded() || j["kernel"]["sha256"] != kernel_sha)
        violation("image.json's kernel is not the tree's kernel");
      std::string esp_kernel = scratch + "/esp-extract/basalt/A/vmlinuz";
      if (!fs::exists(esp_kernel) || Sha(esp_kernel) != kernel_sha)
        violation("the ESP's kernel is not the tree's kernel");
      std::string usr_kernel = scratch + "/usr-extract/lib/modules/" + kKver + "/vmlinuz";
      if (!fs::exists(usr_kernel) || Sha(usr_kernel) != kernel_sha)
        violation("/usr's kernel is not the tree's kernel");
      std::string esp_initrd = scratch + "/esp-extract/basalt/A/initrd.img";
      std::string usr_initrd = scratch + "/usr-extract/lib/modules/" + kKver + "/initrd.img";
      if (!fs::exists(esp_initrd) || !fs::exists(usr_initrd) || Sha(esp_initrd) != Sha(usr_initrd))
        violation("the ESP's initramfs is not /usr's");
      // The rest of the tree made it too (a whiteout must not have taken /usr with it).
      std::string hello = scratch + "/usr-extract/bin/hello";
      if (!fs::exists(hello) || Sha(hello) != ToHex(Sha256("#!/bin/sh\necho hello\n")))
        violation("/usr/bin/hello is missing from usr.img");
      struct stat st;
      if (as_user && (stat((out + "/disk.img").c_str(), &st) != 0 || st.st_uid != kNobody))
        violation("disk.img is not owned by the unprivileged user: the build did not run as it");
    } else {
      // Refused: the last stderr line is the one error line, every line is basalt's own.
      std::vector<std::string> lines;
      for (size_t p = 0, e; p < err.size(); p = e + 1) {
        e = err.find('\n', p);
        if (e == std::string::npos) e = err.size();
        lines.push_back(err.substr(p, e - p));
      }
      size_t errors = 0;
      for (const std::string& l : lines) {
        if (l.starts_with("basalt: error: ")) ++errors;
        if (!l.starts_with("basalt: ")) violation("stderr line not basalt's: " + Printable(l));
      }
      std::string last = lines.empty() ? "" : lines.back();
      *outcome = "refused (exit " + std::to_string(rc) + "): " + Printable(last);
      if (rc != c.refusal_code)
        violation(fmt::format("exit {} (want 0 or {})", rc, c.refusal_code));
      if (errors != 1 || !last.starts_with("basalt: error: "))
        violation(fmt::format("{} `basalt: error:` lines, the last line is not one", errors));
      if (!err.empty() && err.back() != '\n') violation("stderr does not end in a newline");
      if (form != Form::kInitramfsCli && fs::exists(out)) violation("output directory left");
    }
    return violations;
  }

  static std::string Printable(std::string s) {
    for (char& ch : s)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
    return s.size() > 400 ? s.substr(0, 400) + "..." : s;
  }

  static void MakeCanaries(const CaseRun& run, uid_t owner) {
    fs::create_directories(run.canary_dir);
    // Files a symlinked directory would be searched for: the kernel, os-release, dpkg status,
    // a module. Each holds the canary's bytes.
    for (const char* f : {"vmlinuz", "vmlinuz-6.1.0", "os-release", "status", "dm-verity.ko",
                          "6.1.0/vmlinuz", "modules/6.1.0/vmlinuz", "lib/os-release",
                          "lib/modules/6.1.0/vmlinuz", "dpkg/status", "lib/dpkg/status"}) {
      fs::path p = fs::path(run.canary_dir) / f;
      fs::create_directories(p.parent_path());
      std::ofstream(p, std::ios::binary) << run.canary;
    }
    std::ofstream(run.canary_path, std::ios::binary) << run.canary;
    Sh("chmod -R a+rX " + Quote(run.dir + "/outside") + " && chown -R " + std::to_string(owner) +
       ":" + std::to_string(owner) + " " + Quote(run.dir + "/outside"));
  }

  static std::string canary_;
  static bool have_input_limit_;
};
std::string HostileInputTest::canary_;
bool HostileInputTest::have_input_limit_ = false;

// One test per case, registered by name (HostileInput.<case>), so ctest names each case by
// what it is rather than by a printed parameter.
class HostileCase : public HostileInputTest {
 public:
  explicit HostileCase(Case c) : case_(std::move(c)) {}
  void TestBody() override;

 private:
  Case case_;
};

void HostileCase::TestBody() {
  const Case& c = case_;
  if (c.needs_input_limit && !have_input_limit_) {
    std::string line = c.name +
                       " [root|user]: VIOLATION: not run: `basalt image build --help` has "
                       "no " +
                       kInputLimitFlag +
                       " (the input limit); without it this case "
                       "writes gigabytes";
    std::cout << line << "\n";
    if (const char* report = getenv("BASALT_HOSTILE_REPORT"))
      std::ofstream(report, std::ios::app) << line << "\n";
    ADD_FAILURE() << line;
    return;
  }
  for (Form form : c.forms) {
    for (bool as_user : {false, true}) {
      std::string outcome;
      std::string v = RunOne(c, form, as_user, &outcome);
      std::string line =
          fmt::format("{}/{} [{}]: {}", c.name, FormName(form), as_user ? "user" : "root",
                      v.empty() ? outcome : "VIOLATION: " + v + " (" + outcome + ")");
      std::cout << line << std::endl;
      if (const char* report = getenv("BASALT_HOSTILE_REPORT"))
        std::ofstream(report, std::ios::app) << line << "\n";
      EXPECT_TRUE(v.empty()) << "the violation is on the line above";
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The cases.

const std::string kMods = std::string("usr/lib/modules/") + kKver;
const std::vector<Form> kAll = {Form::kDirectory, Form::kTarball, Form::kOci};
const std::vector<Form> kDirTar = {Form::kDirectory, Form::kTarball};
const std::vector<Form> kAllAndInitramfs = {Form::kDirectory, Form::kTarball, Form::kOci,
                                            Form::kInitramfsCli};
const std::vector<Form> kArchives = {Form::kTarball, Form::kOci};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  auto add = [&](std::string name, Layer layer, std::vector<Form> forms) {
    Case c;
    c.name = std::move(name);
    c.layers = {std::move(layer)};
    c.forms = std::move(forms);
    cases.push_back(c);
    return &cases.back();
  };

  // Kernel placement: the module directory is a link to the canary directory (the builder
  // must not place vmlinuz/initrd.img there); vmlinuz is a link to the canary file.
  add("modules_dir_abs_link_to_canary_dir", {Link(kMods, "@CANARYDIR@")}, kAllAndInitramfs);
  add("modules_dir_rel_link_to_canary_dir", {Link(kMods, "@UP@@CANARYDIR@")}, kAllAndInitramfs);
  add("vmlinuz_abs_link_to_canary", {Link(kMods + "/vmlinuz", "@CANARY@")}, kAllAndInitramfs);
  add("vmlinuz_rel_link_to_canary", {Link(kMods + "/vmlinuz", "@UP@@CANARY@")}, kAllAndInitramfs);

  // Each step of the paths the builder reads or writes, linked out of the tree (absolute and
  // relative). The canary directory holds a file of each name looked for.
  const std::vector<std::pair<std::string, std::string>> steps = {
      {"usr", "@CANARYDIR@"},
      {"usr_lib", "@CANARYDIR@"},
      {"usr_lib_modules", "@CANARYDIR@"},
      {"boot", "@CANARYDIR@"},
      {"boot_vmlinuz", "@CANARYDIR@/vmlinuz-6.1.0"},
      {"etc", "@CANARYDIR@"},
      {"etc_os_release", "@CANARY@"},
      {"usr_lib_os_release", "@CANARY@"},
      {"var", "@CANARYDIR@"},
      {"var_lib", "@CANARYDIR@"},
      {"var_lib_dpkg", "@CANARYDIR@"},
      {"var_lib_dpkg_status", "@CANARY@"},
  };
  auto path_of = [](std::string step) {
    std::string p;
    for (const char* known :
         {"usr/lib/modules", "usr/lib/os-release", "usr/lib", "usr", "boot/vmlinuz-6.1.0", "boot",
          "etc/os-release", "etc", "var/lib/dpkg/status", "var/lib/dpkg", "var/lib", "var"}) {
      std::string flat = known;
      for (char& ch : flat)
        if (ch == '/' || ch == '-' || ch == '.') ch = '_';
      if (flat == step || flat == step + "_6_1_0") return std::string(known);
    }
    return p;
  };
  for (const auto& [step, target] : steps) {
    std::string path = path_of(step);
    if (path.empty()) throw std::logic_error("no path for " + step);
    add("escape_" + step + "_abs", {Link(path, target)}, kDirTar);
    add("escape_" + step + "_rel", {Link(path, "@UP@" + target)}, kDirTar);
  }

  // OCI whiteouts through a symlink of a lower layer, and whiteouts naming "." and "..".
  auto oci = [&](std::string name, Layer l1, Layer l2) {
    Case* c = add(std::move(name), std::move(l1), {Form::kOci});
    c->layers.push_back(std::move(l2));
  };
  oci("whiteout_through_abs_link", {Link("usr/x", "@CANARYDIR@")}, {File("usr/x/.wh.vmlinuz", "")});
  oci("whiteout_through_rel_link", {Link("usr/x", "@UP@@CANARYDIR@")},
      {File("usr/x/.wh.vmlinuz", "")});
  oci("opaque_whiteout_through_link", {Link("usr/x", "@CANARYDIR@")},
      {File("usr/x/.wh..wh..opq", "")});
  oci("whiteout_named_dotdot", {}, {File("usr/share/.wh...", "")});
  oci("whiteout_named_dot", {}, {File("usr/share/.wh..", "")});
  oci("whiteout_of_link_then_dir", {Link("usr/x", "@CANARYDIR@")},
      {File("usr/.wh.x", ""), Dir("usr/x"), File("usr/x/vmlinuz", "layer 2")});

  // Module lists: a wanted module that is a link to the canary; modules.dep entries leaving the
  // module directory (relative and absolute).
  const std::vector<Form> kModForms = {Form::kDirectory, Form::kTarball, Form::kOci,
                                       Form::kInitramfsCli};
  add("module_abs_link_to_canary",
      {Dir(kMods + "/kernel"), Dir(kMods + "/kernel/drivers"), Dir(kMods + "/kernel/drivers/md"),
       Link(kMods + "/kernel/drivers/md/dm-verity.ko", "@CANARY@"),
       File(kMods + "/modules.dep", "kernel/drivers/md/dm-verity.ko:\n")},
      kModForms);
  add("module_rel_link_to_canary",
      {Dir(kMods + "/kernel"), Dir(kMods + "/kernel/drivers"), Dir(kMods + "/kernel/drivers/md"),
       Link(kMods + "/kernel/drivers/md/dm-verity.ko", "@UP@@CANARY@"),
       File(kMods + "/modules.dep", "kernel/drivers/md/dm-verity.ko:\n")},
      kModForms);
  add("modules_dep_rel_escape",
      {Dir(kMods + "/kernel"), Dir(kMods + "/kernel/drivers"), Dir(kMods + "/kernel/drivers/md"),
       File(kMods + "/kernel/drivers/md/dm-verity.ko", "not really a module"),
       File(kMods + "/modules.dep",
            "../../../../../../../../..@CANARY@:\n"
            "kernel/drivers/md/dm-verity.ko: ../../../../../../../../..@CANARY@\n")},
      kModForms);
  add("modules_dep_abs_escape",
      {Dir(kMods + "/kernel"), Dir(kMods + "/kernel/drivers"), Dir(kMods + "/kernel/drivers/md"),
       File(kMods + "/kernel/drivers/md/dm-verity.ko", "not really a module"),
       File(kMods + "/modules.dep", "kernel/drivers/md/dm-verity.ko: @CANARYDIR@/dm-verity.ko\n")},
      kModForms);

  // Tarball links: a hardlink to a file outside the tree, a hardlink to a symlink (earlier or
  // later in the archive), a file written through a symlink of the same archive or of a lower
  // OCI layer.
  add("hardlink_abs_outside", {Hard("usr/share/h", "@CANARY@")}, kArchives);
  add("hardlink_rel_outside", {Hard("usr/share/h", "@UP@@CANARY@")}, kArchives);
  add("hardlink_to_symlink", {Link("usr/share/s", "@CANARY@"), Hard("usr/share/h", "usr/share/s")},
      kArchives);
  add("hardlink_before_symlink",
      {Hard("usr/share/h", "usr/share/s"), Link("usr/share/s", "@CANARY@")}, kArchives);
  add("write_through_link_same_tar",
      {Link("usr/x", "@CANARYDIR@"), File("usr/x/planted", "planted"), Dir("usr/x/planted-dir")},
      kArchives);
  add("write_through_rel_link_same_tar",
      {Link("usr/x", "@UP@@CANARYDIR@"), File("usr/x/vmlinuz", "x")}, kArchives);
  oci("write_through_link_lower_layer", {Link("usr/x", "@CANARYDIR@")},
      {File("usr/x/planted", "planted"), File("usr/x/vmlinuz", "overwritten")});

  // Odd shapes: loops, a 4,096-byte path, names with a newline or invalid UTF-8.
  add("symlink_loops",
      {Link(kMods + "/vmlinuz", "vmlinuz"), Link("usr/share/a", "b"), Link("usr/share/b", "a"),
       Link("etc/os-release", "os-release")},
      kAll);
  {
    Layer deep;
    std::string p = "usr/share";
    while (p.size() < 4096 - 210) {
      p += "/" + std::string(200, 'd');
      deep.push_back(Dir(p));
    }
    p += "/" + std::string(4096 - p.size() - 1, 'f');
    deep.push_back(File(p, "deep"));
    add("path_of_4096_bytes", deep, kAll);
  }
  add("names_with_newline_and_bad_utf8",
      {File("usr/share/new\nline", "x"), File("usr/share/bad\xff\xfe", "y"),
       Link("usr/share/link\nname", "target\nwith newline"), File("etc/\x1b[31mred", "z")},
      kAll);
  {
    // ROOT's part of a directory input is copied (its mtime is newer than SOURCE_DATE_EPOCH),
    // and without a limit the copy writes all 10 GiB (measured), so this case needs the limit too.
    Case* c = add("sparse_10GiB_in_var", {Sparse("var/sparse", 10ull << 30)}, {Form::kDirectory});
    c->needs_input_limit = true;
    c = add("sparse_10GiB_in_usr", {Sparse("usr/share/sparse", 10ull << 30)}, {Form::kDirectory});
    c->needs_input_limit = true;
    c = add("gzip_bomb", {Sparse("usr/share/zeros", 1ull << 30)}, {Form::kTarGz, Form::kOci});
    c->needs_input_limit = true;
  }
  {
    Case* c = add("tarball_claims_more_than_it_holds",
                  {File("usr/share/big", std::string(256 * 1024, 'B'))}, {Form::kTarball});
    c->truncate_tar = 1024 + 100 * 1024;  // the end-of-archive blocks and 100 KiB of data
  }
  {
    Case* c = add("oci_blob_digest_mismatch", {}, {Form::kOci});
    c->layers.push_back({File("usr/share/l2", "layer 2")});
    c->tamper_blob = true;
    c->refusal_code = 4;  // kIntegrity, docs/image.md
    c = add("oci_layer_listed_twice", {}, {Form::kOci});
    c->layer_twice = true;
  }
  return cases;
}

const bool kRegistered = [] {
  for (const Case& c : Cases()) {
    ::testing::RegisterTest("HostileInput", c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [c]() -> HostileInputTest* { return new HostileCase(c); });
  }
  return true;
}();

}  // namespace
}  // namespace basalt::image::testing
