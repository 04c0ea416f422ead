// Which arguments of the running kernel a newly installed slot keeps. An image's extra command
// line (console=ttyS0, systemd.* options, …) lives only in its boot entries, so an update that
// wrote the new entry with none would silently drop it: a host whose console was on the serial
// port would come back without one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace basalt::update {

struct CarriedArgs {
  std::string args;                  // space-separated, for SlotEntry::extra_cmdline
  std::vector<std::string> dropped;  // arguments a boot entry cannot hold (quotes, '$', '\')
};

// Everything in `proc_cmdline` except what each entry sets itself (basalt.usr=, basalt.usrhash=)
// and what the bootloader adds (BOOT_IMAGE=, initrd=).
CarriedArgs CarriedOverKernelArgs(std::string_view proc_cmdline);

}  // namespace basalt::update
