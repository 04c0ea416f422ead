// The staging of OCI layers over a fake tree: the input decodes into up to four layers of
// operations (directory, symlink with any target, regular file, hardlink, whiteout, opaque
// whiteout), each layer written as a tar by libarchive and applied by the builder's own
// ExtractArchive. Next to the tree lie a canary directory holding random bytes and a canary file;
// if any input changes either of them or the directory around the tree, the fuzzer aborts.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/root_dir.h"
#include "input.h"

namespace {

namespace fs = std::filesystem;

struct World {
  std::string base, tree, canary_dir, canary_file, canary;
  std::string metadata;  // owner, mode and times of every canary entry
};

// What a chown, chmod, utime or hardlink through a link would change (ctime, link count).
std::string Metadata(const World& w) {
  std::string out;
  for (const std::string& p : {w.canary_dir, w.canary_dir + "/sub", w.canary_dir + "/secret",
                               w.canary_dir + "/sub/.ssh", w.canary_file}) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) return "missing " + p;
    out += std::to_string(st.st_mode) + ":" + std::to_string(st.st_uid) + ":" +
           std::to_string(st.st_gid) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_nlink) + ":" +
           std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec) + ";";
  }
  return out;
}

void WriteAll(const std::string& path, const std::string& data) {
  auto fd = basalt::OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!fd || !basalt::WriteFull(
                 fd->get(), {reinterpret_cast<const uint8_t*>(data.data()), data.size()}, path)) {
    std::abort();
  }
}

const World& GetWorld() {
  static const World* world = [] {
    auto* w = new World;
    char tmpl[] = "/tmp/basalt-fuzz-whiteout-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    w->base = tmpl;
    w->tree = w->base + "/tree";
    w->canary_dir = w->base + "/canary";
    w->canary_file = w->base + "/canary-file";
    w->canary.resize(48);
    if (getrandom(w->canary.data(), w->canary.size(), 0) != 48) std::abort();
    fs::create_directories(w->canary_dir + "/sub");
    WriteAll(w->canary_dir + "/secret", w->canary);
    WriteAll(w->canary_dir + "/sub/.ssh", w->canary);
    WriteAll(w->canary_file, w->canary);
    w->metadata = Metadata(*w);
    // The canary is ours to clean up when the process ends normally.
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(GetWorld().base, ec);
    });
    return w;
  }();
  return *world;
}

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // Short paths over a small alphabet, so entries collide, nest and name each other.
  std::string Path() {
    size_t n = Byte() % 12;
    std::string s;
    while (n-- > 0 && pos_ < size_) {
      static constexpr char kAlphabet[] = "ab/./c";
      uint8_t b = Byte();
      s.push_back(b < 0xf0 ? kAlphabet[b % (sizeof(kAlphabet) - 1)] : static_cast<char>(b));
    }
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

std::string ReadAll(const std::string& path) {
  auto text = basalt::ReadFileToString(path);
  return text ? *text : std::string("<unreadable>");
}

void CheckCanary(const World& w) {
  if (Metadata(w) != w.metadata) std::abort();
  if (ReadAll(w.canary_dir + "/secret") != w.canary) std::abort();
  if (ReadAll(w.canary_dir + "/sub/.ssh") != w.canary) std::abort();
  if (ReadAll(w.canary_file) != w.canary) std::abort();
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(w.canary_dir))
    names.push_back(e.path().string().substr(w.canary_dir.size()));
  std::sort(names.begin(), names.end());
  if (names != std::vector<std::string>{"/secret", "/sub", "/sub/.ssh"}) std::abort();
  std::vector<std::string> around;
  for (const auto& e : fs::directory_iterator(w.base))
    around.push_back(e.path().filename().string());
  std::sort(around.begin(), around.end());
  if (around != std::vector<std::string>{"canary", "canary-file", "tree"}) std::abort();
}

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};

// One layer as a tar in a memfd, ready for ExtractArchive.
basalt::UniqueFd WriteLayer(Input& in, const World& w) {
  basalt::UniqueFd fd(memfd_create("layer", MFD_CLOEXEC));
  if (!fd) std::abort();
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  archive_write_set_format_gnutar(a.get());
  if (archive_write_open_fd(a.get(), fd.get()) != ARCHIVE_OK) std::abort();
  const std::string targets[] = {
      w.canary_dir, w.canary_dir + "/sub", w.canary_file, "../canary", "../../canary", "/", ".."};
  for (int n = 0; n < 12 && !in.empty(); ++n) {
    uint8_t op = in.Byte();
    if (op % 8 == 7) break;  // next layer
    std::string path = in.Path();
    archive_entry* e = archive_entry_new();
    archive_entry_set_mtime(e, 1, 0);
    std::string data;
    switch (op % 8) {
      case 0:
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        break;
      case 1: {
        uint8_t t = in.Byte();
        std::string target = t < 128 ? in.Path() : targets[t % std::size(targets)];
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, target.empty() ? "." : target.c_str());
        archive_entry_set_perm(e, 0777);
        break;
      }
      case 2:
      case 3:
        data = "pwned";
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        break;
      case 4:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_hardlink(e, in.Path().c_str());
        break;
      case 5: {
        // ".wh." + a name, which may be "", ".", ".." or anything else.
        std::string dir = path;
        uint8_t k = in.Byte();
        const char* names[] = {"", ".", "..", "a", "b", "secret", ".ssh", "c"};
        path = dir + (dir.empty() ? "" : "/") + ".wh." + names[k % std::size(names)];
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        break;
      }
      case 6:
        path += (path.empty() ? "" : "/") + std::string(".wh..wh..opq");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        break;
    }
    archive_entry_set_pathname(e, path.empty() ? "." : path.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    if (archive_write_header(a.get(), e) == ARCHIVE_OK && !data.empty()) {
      archive_write_data(a.get(), data.data(), data.size());
    }
    archive_entry_free(e);
  }
  archive_write_close(a.get());
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const World& w = GetWorld();
  std::error_code ec;
  fs::remove_all(w.tree, ec);
  fs::create_directory(w.tree);
  Input in(data, size);
  auto root = basalt::RootDir::Open(w.tree, "fuzz tree");
  if (!root) std::abort();
  basalt::image::ExtractBudget budget{1 << 20, 0};
  basalt::image::StagedInput staged;
  for (int layer = 0; layer < 4 && !in.empty(); ++layer) {
    basalt::UniqueFd fd = WriteLayer(in, w);
    auto r = basalt::image::ExtractArchive(fd.get(), *root, "fuzz layer", true, &budget, &staged);
    CheckCanary(w);
    if (!r) {
      // One line, always.
      if (r.error().message().find('\n') != std::string::npos) std::abort();
      break;
    }
  }
  CheckCanary(w);
  fs::remove_all(w.tree, ec);
  return 0;
}
