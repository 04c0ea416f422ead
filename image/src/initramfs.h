// The initramfs of an image: bootloader/'s PlanInitramfs (basalt-init as /init, its libraries,
// busybox and resize2fs from the tree, the tree's kernel modules with a modules.dep) written as
// a reproducible newc cpio: entries in the plan's sorted order, inode numbers from 1, owner
// root, one mtime. The image builder puts it in /usr next to the kernel
// (/usr/lib/modules/<kver>/initrd.img), so verity covers it and updates carry it.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"
#include "image/initramfs_plan.h"

namespace basalt::image {

Result<std::string> BuildInitramfs(const boot::InitramfsSpec& spec, int64_t mtime);

}  // namespace basalt::image
