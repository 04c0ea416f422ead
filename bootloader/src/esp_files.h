// Access to the files on the EFI system partition, either through a mounted directory (a
// running host) or without mounting, with mtools on a disk image or block device at a byte
// offset (offline images, or a host whose ESP is not mounted). Paths are absolute inside the
// ESP, e.g. "/basalt/grubenv".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::boot {

class EspFiles {
 public:
  virtual ~EspFiles() = default;
  virtual std::string Describe() const = 0;  // for messages: "disk.img@@1048576"

  // nullopt if the file does not exist.
  virtual Result<std::optional<std::string>> Read(const std::string& path) = 0;
  // Creates or overwrites; not atomic by itself (ReplaceFile builds on it).
  virtual Status Write(const std::string& path, std::string_view data) = 0;
  virtual Status WriteFromFile(const std::string& path, const std::string& local_file) = 0;
  // Fails if `to` exists: FAT has no atomic rename-over.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Succeeds if the file is already absent.
  virtual Status Remove(const std::string& path) = 0;
  // Names (not paths) of the regular files in `dir`; empty if the directory is absent.
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
  virtual Status MakeDirs(const std::string& dir) = 0;
  // Makes everything written so far durable.
  virtual Status Sync() = 0;
};

std::unique_ptr<EspFiles> OpenEspDirectory(std::string root);
// `image` is a disk image file or block device; the ESP is the `size` bytes at `offset`. Before
// its first change, the ESP is checked and, after an interrupted earlier write, repaired
// (RepairFat), so that one killed mtools call cannot stop every later update.
std::unique_ptr<EspFiles> OpenEspMtools(std::string image, uint64_t offset, uint64_t size);

// Crash-safe replacement of `path` on FAT, which cannot rename over a file:
//   1. write path.new completely, sync;
//   2. rename path -> path.old, sync;
//   3. rename path.new -> path, sync;
//   4. remove path.old, sync.
// A crash leaves either `path` (old or new content) or, between 2 and 3, only `path.old` with
// the old content. ReadRecovering and the generated grub.cfg fall back to path.old, so every
// intermediate state is the old state or the new one, never a mix.
Status ReplaceFile(EspFiles& esp, const std::string& path, std::string_view data);
Status ReplaceFileFrom(EspFiles& esp, const std::string& path, const std::string& local_file);
Result<std::optional<std::string>> ReadRecovering(EspFiles& esp, const std::string& path);

}  // namespace basalt::boot
