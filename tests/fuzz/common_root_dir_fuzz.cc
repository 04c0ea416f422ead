// RootDir over a tree the fuzzer builds itself: directories, files and symlinks with any target,
// then reads, listings, removals and writes through fuzzer-chosen paths, with openat2 or with the
// component walk. Next to the tree lies a canary (canary_world.h) with random bytes the fuzzer
// cannot know: any read returning them, or any change to the canary or around the tree, aborts.
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "canary_world.h"
#include "common/fd.h"
#include "common/root_dir.h"

namespace {

namespace fs = std::filesystem;
using basalt::fuzzing::CheckCanary;
using basalt::fuzzing::Input;
using basalt::fuzzing::World;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const World& w = basalt::fuzzing::GetWorld("rootdir");
  std::error_code ec;
  fs::remove_all(w.tree, ec);
  fs::create_directory(w.tree);
  Input in(data, size);
  auto root = basalt::RootDir::Open(w.tree, "fuzz tree");
  if (!root) std::abort();
  if (in.Byte() & 1) root->ForceWalkForTesting();
  const std::string targets[] = {
      w.canary_dir, w.canary_dir + "/secret", "../canary", "../../canary/secret", "/", ".."};
  for (int ops = 0; ops < 32 && !in.empty(); ++ops) {
    uint8_t op = in.Byte();
    std::string path = in.Path(48, "ab/./../c");
    basalt::Follow follow = (op & 0x80) ? basalt::Follow::kNever : basalt::Follow::kInRoot;
    switch (op % 10) {
      case 0:
        (void)root->MakeDirs(path, 0755);
        break;
      case 1: {
        auto fd = root->CreateFile(path, 0644);
        if (fd) (void)basalt::WriteFull(fd->get(), {data, std::min<size_t>(size, 16)}, "f");
        break;
      }
      case 2: {
        // A symlink: either a fuzzed target or one aimed at the canary.
        uint8_t t = in.Byte();
        std::string target = t < 200 ? in.Path(48, "ab/./../c") : targets[t % std::size(targets)];
        auto clean = basalt::CleanRelativePath(path, "fuzz");
        if (!clean || target.empty()) break;
        auto slash = clean->rfind('/');
        std::string dir = slash == std::string::npos ? "." : clean->substr(0, slash);
        std::string name = slash == std::string::npos ? *clean : clean->substr(slash + 1);
        auto fd = root->OpenAt(dir, O_PATH | O_DIRECTORY, basalt::Follow::kNever);
        if (fd) (void)symlinkat(target.c_str(), fd->get(), name.c_str());
        break;
      }
      case 3:
      case 4: {
        auto text = root->ReadFile(path, 1 << 16, follow);
        if (text && text->find(w.canary) != std::string::npos) std::abort();
        break;
      }
      case 5:
        (void)root->Stat(path, follow);
        break;
      case 6:
        (void)root->List(path, follow);
        break;
      case 7:
        (void)root->ReadLink(path, follow);
        break;
      case 8:
        (void)root->RemoveTree(path);
        break;
      case 9:
        (void)root->ReplaceFile(path, "replaced", 0644);
        break;
    }
    CheckCanary(w);
  }
  return 0;
}
