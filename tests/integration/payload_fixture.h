// Test fixtures for payload tests: real erofs + dm-verity image directories built with
// mkfs.erofs and veritysetup (as `basalt image build` lays them out), and signing keys.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace basalt::payload::testing {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// "" when every tool is present, otherwise the name of the first missing one.
std::string MissingTool(const std::vector<std::string>& tools);

// Builds dir/usr.img (erofs of tree, verity hash area appended with a superblock) and
// dir/image.json. Fails the calling test on error.
void BuildImage(const std::string& tree, const std::string& dir, const std::string& version);

void WriteFile(const std::string& path, const std::string& data);
std::string ReadFile(const std::string& path);
// Deterministic pseudo-random bytes; compressible when `text` (word soup), else incompressible.
std::string RandomBytes(size_t n, uint64_t seed, bool text = false);

// Writes keys: dir/<name>.pem (private) and trust_dir/<name>.pem (public).
void MakeKey(const std::string& name, const std::string& key_dir, const std::string& trust_dir);

// Runs a shell command, returning its exit status.
int Run(const std::string& cmd);

}  // namespace basalt::payload::testing
