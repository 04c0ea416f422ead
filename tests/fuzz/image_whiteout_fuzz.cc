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

#include "canary_world.h"
#include "common/fd.h"
#include "common/root_dir.h"
#include "input.h"

namespace {

namespace fs = std::filesystem;
using basalt::fuzzing::CheckCanary;
using basalt::fuzzing::Input;
using basalt::fuzzing::World;

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
    std::string path = in.Path(12, "ab/./c");
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
        std::string target = t < 128 ? in.Path(12, "ab/./c") : targets[t % std::size(targets)];
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
        archive_entry_set_hardlink(e, in.Path(12, "ab/./c").c_str());
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
  const World& w = basalt::fuzzing::GetWorld("whiteout");
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
