// RootDir over a tree the fuzzer builds itself: directories, files and symlinks with any target,
// then reads, listings, removals and writes through fuzzer-chosen paths, with openat2 or with the
// component walk. Next to the tree lies a canary with random bytes the fuzzer cannot know: any
// read returning them, or any change to the canary or to the directory around the tree, aborts.
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

#include "common/fd.h"
#include "common/root_dir.h"

namespace {

namespace fs = std::filesystem;

struct World {
  std::string base, tree, canary_dir, canary;
};

const World& GetWorld() {
  static const World* world = [] {
    auto* w = new World;
    char tmpl[] = "/tmp/basalt-fuzz-rootdir-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    w->base = tmpl;
    w->tree = w->base + "/tree";
    w->canary_dir = w->base + "/canary";
    w->canary.resize(48);
    if (getrandom(w->canary.data(), w->canary.size(), 0) != 48) std::abort();
    fs::create_directories(w->canary_dir + "/sub");
    auto fd = basalt::OpenFile(w->canary_dir + "/secret", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!fd || !basalt::WriteFull(fd->get(),
                                  {reinterpret_cast<const uint8_t*>(w->canary.data()), 48}, "c")) {
      std::abort();
    }
    return w;
  }();
  return *world;
}

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::string String() {
    size_t n = Byte() % 48;
    std::string s;
    while (n-- > 0 && pos_ < size_) {
      // A small alphabet so paths collide with each other often.
      static constexpr char kAlphabet[] = "ab/./../c";
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

void CheckCanary(const World& w) {
  auto text = basalt::ReadFileToString(w.canary_dir + "/secret");
  if (!text || *text != w.canary) std::abort();
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(w.canary_dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  if (names != std::vector<std::string>{"secret", "sub"}) std::abort();
  if (!fs::is_empty(w.canary_dir + "/sub")) std::abort();
  size_t around = 0;
  for (const auto& e : fs::directory_iterator(w.base)) {
    (void)e;
    ++around;
  }
  if (around != 2) std::abort();
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
  if (in.Byte() & 1) root->ForceWalkForTesting();
  const std::string targets[] = {
      w.canary_dir, w.canary_dir + "/secret", "../canary", "../../canary/secret", "/", ".."};
  for (int ops = 0; ops < 32 && !in.empty(); ++ops) {
    uint8_t op = in.Byte();
    std::string path = in.String();
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
        std::string target = t < 200 ? in.String() : targets[t % std::size(targets)];
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
