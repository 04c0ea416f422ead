// A world for fuzzers that must never touch anything outside their tree: a temporary base
// holding the tree (rebuilt per input by the fuzzer), a canary directory and a canary file with
// random bytes the fuzzer cannot know. CheckCanary aborts when the canary's bytes, names, owner,
// mode, times or link count changed, or when anything appeared next to the tree.
#pragma once

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"

namespace basalt::fuzzing {

namespace fs = std::filesystem;

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // Paths of up to `max_len` characters over `alphabet` (with now and then any byte), so that
  // entries collide, nest and name each other.
  std::string Path(size_t max_len, std::string_view alphabet) {
    size_t n = Byte() % max_len;
    std::string s;
    while (n-- > 0 && pos_ < size_) {
      uint8_t b = Byte();
      s.push_back(b < 0xf0 ? alphabet[b % alphabet.size()] : static_cast<char>(b));
    }
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

struct World {
  std::string base, tree, canary_dir, canary_file, canary;
  std::string metadata;  // owner, mode and times of every canary entry
};

// What a chown, chmod, utime or hardlink through a link would change (ctime, link count).
inline std::string Metadata(const World& w) {
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

inline void WriteAll(const std::string& path, const std::string& data) {
  auto fd = basalt::OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!fd || !basalt::WriteFull(
                 fd->get(), {reinterpret_cast<const uint8_t*>(data.data()), data.size()}, path)) {
    std::abort();
  }
}

inline const World& GetWorld(const char* prefix) {
  static const World* world = [prefix] {
    auto* w = new World;
    std::string tmpl = std::string("/tmp/basalt-fuzz-") + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
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
      fs::remove_all(GetWorld(nullptr).base, ec);
    });
    return w;
  }();
  return *world;
}

inline std::string ReadAll(const std::string& path) {
  auto text = basalt::ReadFileToString(path);
  return text ? *text : std::string("<unreadable>");
}

inline void CheckCanary(const World& w) {
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

}  // namespace basalt::fuzzing
