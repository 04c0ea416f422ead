// What goes into the initramfs, as a list the image builder's cpio writer turns into an
// archive (image/boot_layout.h's InitramfsBuilder calls this): basalt-init as /init, the shared
// libraries it and the helper tools need (from the image's tree first, else from the Basalt
// build's own system), busybox and resize2fs from the tree if present, and the kernel modules
// for disks, dm-verity and the filesystems, with a modules.dep for exactly those modules.
// Entries are sorted, parents before children, so the archive is reproducible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace basalt::boot {

struct InitramfsEntry {
  enum class Kind { kDirectory, kFile, kSymlink, kCharDevice };
  Kind kind = Kind::kFile;
  std::string path;    // inside the archive, relative: "lib/x86_64-linux-gnu/libc.so.6"
  std::string source;  // kFile: where the bytes came from (for messages; empty if generated)
  std::string data;    // kFile: the contents, read while planning; kSymlink: target
  uint32_t mode = 0644;
  uint32_t major = 0, minor = 0;  // kCharDevice
};

struct InitramfsSpec {
  std::string tree;             // the image's root filesystem (merged /usr or not)
  std::string kernel_version;   // directory name under lib/modules
  std::string basalt_init;      // the built basalt-init binary
  std::string host_root = "/";  // fallback for libraries the tree does not have
  // Module names wanted; their dependencies come along. Missing ones are fine (built in).
  std::vector<std::string> modules = {"virtio_blk", "virtio_pci", "virtio_scsi", "nvme",  "ahci",
                                      "sd_mod",     "dm_mod",     "dm_verity",   "erofs", "ext4",
                                      "vfat",       "nls_cp437",  "nls_ascii"};
};

Result<std::vector<InitramfsEntry>> PlanInitramfs(const InitramfsSpec& spec);

}  // namespace basalt::boot
