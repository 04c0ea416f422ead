// The filesystem builders, each a thin reproducible wrapper over the Debian tool, so images need
// no mounts and no loop devices: mkfs.erofs for /usr, mkfs.ext4 -d for ROOT and OEM, mkfs.fat +
// mtools for the ESP.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "image/definition.h"

namespace basalt::image {

struct ErofsOptions {
  UsrCompression compression = UsrCompression::kNone;
  std::string uuid;
  int64_t timestamp = 0;  // every inode gets this time
};
// Builds `image` from the directory `tree`; returns the image size in bytes (a multiple of 4096).
Result<uint64_t> MakeErofs(const std::string& tree, const std::string& image,
                           const ErofsOptions& options);

struct Ext4Options {
  std::string label;
  std::string uuid;
  std::string hash_seed;  // a UUID, seeds htree directory hashing
  uint64_t size = 0;
  int64_t timestamp = 0;
  std::string tree;  // empty: an empty filesystem
};
// Creates an ext4 filesystem of exactly options.size bytes in `image` (created or truncated),
// populated from options.tree with owners and modes kept. Inode change/access times, which
// mkfs.ext4 -d takes from the staging copy, are then set to the timestamp with debugfs so the
// result does not depend on when the staging copy was made.
Status MakeExt4(const std::string& image, const Ext4Options& options);

struct EspFile {
  std::string path;  // inside the ESP, e.g. "/EFI/BOOT/BOOTX64.EFI"
  std::string data;
};
struct VfatOptions {
  std::string label = "EFI-SYSTEM";
  uint32_t volume_id = 0;
  uint64_t size = 0;
  int64_t timestamp = 0;
};
// FAT32 of exactly options.size bytes holding the files (parent directories are created).
// `scratch` is a directory for the timestamped files mcopy reads.
Status MakeVfat(const std::string& image, const std::vector<EspFile>& files,
                const VfatOptions& options, const std::string& scratch);

}  // namespace basalt::image
