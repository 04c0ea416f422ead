// Finds the kernel in the input tree and places it inside /usr, so it is covered by verity and
// travels with updates.
#pragma once

#include <string>

#include "common/error.h"

namespace basalt::image {

struct KernelInfo {
  std::string version;      // "6.1.0-26-cloud-amd64"
  std::string source_path;  // where it was found, relative to the tree ("/boot/vmlinuz-...")
  std::string usr_path;     // "/usr/lib/modules/<version>/vmlinuz"
};

// Looks at /usr/lib/modules/*/vmlinuz, /lib/modules/*/vmlinuz and /boot/vmlinuz-*, in that
// order. Several versions: the highest (strverscmp) wins. None: a kNotFound error.
Result<KernelInfo> FindKernel(const std::string& tree);

// Copies the kernel to <usr_tree>/lib/modules/<version>/vmlinuz unless it is already there.
Status PlaceKernelInUsr(const std::string& tree, const std::string& usr_tree, const KernelInfo& k,
                        int64_t timestamp);

}  // namespace basalt::image
