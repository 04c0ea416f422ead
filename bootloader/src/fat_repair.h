// Repairs a FAT file system that an interrupted write left inconsistent. mtools is not crash
// safe: killed (or the power lost) between writing a directory entry and the FAT, it leaves a
// file whose cluster chain runs into free clusters. Every later mtools call that touches that
// file fails ("Fat problem while decoding"), and, worse, a new file may be given those "free"
// clusters, so that removing the broken one would free the new file's data. A check before the
// first write of every session closes both holes.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace basalt::boot {

// Runs `fsck.fat -a` on a copy of the `size` bytes at `offset` in `image` (a disk image or block
// device), so it works on any byte range without a loop device, then writes back only the 4 KiB
// blocks fsck changed and fsyncs. Returns fsck's account of what it fixed, or "" when the file
// system was already clean (nothing is written then). Refuses, writing nothing, if fsck.fat
// cannot make the copy clean. Blocks that fsck did not change are never rewritten, so files
// that were intact (the running slot's kernel, grub.cfg) keep their bytes even if this is
// interrupted too; running it again finishes the repair.
Result<std::string> RepairFat(const std::string& image, uint64_t offset, uint64_t size);

}  // namespace basalt::boot
