// Test fixtures for payload tests: real erofs + dm-verity image directories built with
// mkfs.erofs and veritysetup (as `basalt image build` lays them out), and signing keys.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"

namespace basalt::payload::testing {

using basalt::testing::MissingTool;
using basalt::testing::TempDir;
using basalt::testing::WriteFile;

// Builds dir/usr.img (erofs of tree, verity hash area appended with a superblock) and
// dir/image.json. Fails the calling test on error.
void BuildImage(const std::string& tree, const std::string& dir, const std::string& version);

std::string ReadFile(const std::string& path);
// Deterministic pseudo-random bytes; compressible when `text` (word soup), else incompressible.
std::string RandomBytes(size_t n, uint64_t seed, bool text = false);

// An x86 bzImage laid out as Debian's CONFIG_KERNEL_LZ4 kernels are: setup sectors with the
// boot protocol header, the `lz4 -l -LEVEL` stream of `vmlinux` plus its 4-byte size, then
// `tail`. Level 0 compresses with an acceleration no `lz4 -l` level uses, so no level
// reproduces the stream.
std::string MakeLz4BzImage(const std::string& vmlinux, const std::string& tail, int level = 9);

// Writes keys: dir/<name>.pem (private) and trust_dir/<name>.pem (public).
void MakeKey(const std::string& name, const std::string& key_dir, const std::string& trust_dir);

// Runs a shell command, returning its exit status.
int Run(const std::string& cmd);

}  // namespace basalt::payload::testing
