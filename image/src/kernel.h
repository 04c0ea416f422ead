// Finds the kernel in the input tree and places it inside /usr, so it is covered by verity and
// travels with updates. The tree is untrusted: it is read through a RootDir (links resolve inside
// it) and written without following any link.
#pragma once

#include <string>

#include "common/error.h"
#include "common/root_dir.h"

namespace basalt::image {

struct KernelInfo {
  std::string version;      // "6.1.0-26-cloud-amd64"
  std::string source_path;  // where it was found, relative to the tree ("/boot/vmlinuz-...")
  std::string usr_path;     // "/usr/lib/modules/<version>/vmlinuz"
};

// Looks at /usr/lib/modules/*/vmlinuz, /lib/modules/*/vmlinuz and /boot/vmlinuz-*, in that
// order. Several versions: the highest (strverscmp) wins. None: a kInvalidInput error. A version
// outside [A-Za-z0-9._+~-] is refused: it becomes part of paths and boot loader entries.
Result<KernelInfo> FindKernel(const RootDir& tree);

// Makes /usr/lib/modules/<version>/vmlinuz a regular file holding the kernel (replacing a
// symlink there) and returns its bytes. A link among its parent directories is refused.
Result<std::string> PlaceKernelInUsr(const RootDir& tree, const KernelInfo& k, int64_t timestamp);

}  // namespace basalt::image
