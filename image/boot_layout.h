// What goes on the ESP, and the two extension points the boot chain plugs into: the
// BootLayoutProvider (bootloader binary, its config and state, per-slot kernel + initramfs) and
// the InitramfsBuilder. The image builder only places the returned files on the vfat ESP.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "image/filesystems.h"

namespace basalt::image {

using EspContents = std::vector<EspFile>;

struct InitramfsInputs {
  std::string tree;  // the staged root filesystem (usr/ holds the final /usr)
  std::string kernel_version;
  int64_t source_date_epoch = 0;
};

class InitramfsBuilder {
 public:
  virtual ~InitramfsBuilder() = default;
  // Returns the initramfs bytes (a cpio archive, possibly compressed).
  virtual Result<std::string> Build(const InitramfsInputs& inputs) = 0;
};

// The placeholder until basalt-init lands: the directory skeleton and, when the tree has one,
// busybox as /bin/sh. A correct, reproducible newc archive; it does not mount /usr.
class SkeletonInitramfs : public InitramfsBuilder {
 public:
  Result<std::string> Build(const InitramfsInputs& inputs) override;
};

struct SlotBoot {
  std::string slot;       // "A" or "B"
  std::string kernel;     // bytes
  std::string initramfs;  // bytes
  std::string usr_partuuid;
  std::string usr_root_hash;
};

struct BootLayoutInputs {
  std::string os_name;
  std::string version;
  std::string extra_cmdline;
  std::vector<SlotBoot> slots;  // slots with boot files in this image (a fresh image: A)
  int64_t source_date_epoch = 0;
  std::string scratch_dir;  // for temporary files of the provider
};

class BootLayoutProvider {
 public:
  virtual ~BootLayoutProvider() = default;
  virtual Result<EspContents> Layout(const BootLayoutInputs& inputs) = 0;
};

// Stock Debian GRUB EFI (grub-mkimage from grub-efi-amd64-bin) with a RAUC-style grub.cfg and
// grubenv. Files:
//   /EFI/BOOT/BOOTX64.EFI, /EFI/BOOT/grub.cfg, /EFI/BOOT/grubenv
//   /EFI/basalt/<slot>/vmlinuz, initrd.img, cmdline.cfg
class GrubLayout : public BootLayoutProvider {
 public:
  Result<EspContents> Layout(const BootLayoutInputs& inputs) override;
};

// The kernel command line of one slot.
std::string SlotCmdline(const SlotBoot& slot, const std::string& extra);

std::unique_ptr<BootLayoutProvider> MakeBootLayout(const std::string& backend);

}  // namespace basalt::image
