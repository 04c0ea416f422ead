// Materializes an initramfs plan in a directory (device nodes need root), for `cpio -H newc`
// or inspection; the image builder writes the plan straight into its own cpio writer instead.
#pragma once

#include <string>
#include <vector>

#include "image/initramfs_plan.h"

namespace basalt::boot {
Status StageInitramfs(const std::vector<InitramfsEntry>& plan, const std::string& dir);
}  // namespace basalt::boot
