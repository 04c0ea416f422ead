// Which arguments of the running kernel a newly installed slot keeps. An image's extra command
// line (console=ttyS0, ...) lives only in its boot entries, so an update that wrote the new entry
// with none would silently drop it: a host whose console was on the serial port would come back
// without one. But /proc/cmdline also holds whatever was typed at the boot menu once (init=/bin/sh,
// basalt.emergency=shell, basalt.verity=eio) and aliases of basalt-init's own keys (mount.usr=,
// usrhash=) that would override the new entry's /usr. So only an allowlist is carried over.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace basalt::update {

struct CarriedArgs {
  std::string args;                  // space-separated, for SlotEntry::extra_cmdline
  std::vector<std::string> dropped;  // arguments not carried over, each with why
};

// The words of `proc_cmdline` on the allowlist (console output and verbosity only; see
// docs/boot.md "Kernel arguments an update carries over"): console=, earlycon[=], earlyprintk[=],
// loglevel=, quiet, panic=, systemd.show_status=. Everything else is dropped and named in
// `dropped`, except what each entry or the bootloader sets itself (basalt.usr=, basalt.usrhash=,
// BOOT_IMAGE=, initrd=, basalt.slot=), which is dropped silently.
CarriedArgs CarriedOverKernelArgs(std::string_view proc_cmdline);

// The new slot's extra command line: the release's own arguments (when it says them), then each
// carried-over word that is not already among them, so a host-specific console survives and the
// release's arguments are not doubled.
std::string SlotKernelArgs(const std::optional<std::string>& release_args,
                           std::string_view carried);

}  // namespace basalt::update
