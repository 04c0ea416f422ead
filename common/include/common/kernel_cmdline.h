// The kernel command line a release's image adds to every boot entry of its slots
// (`kernel.cmdline` of the image definition, recorded in image.json and signed in release.json),
// so an update installs the new release's own arguments instead of losing them.
#pragma once

#include <string_view>

#include "common/error.h"

namespace basalt {

// Words separated by single spaces; printable ASCII without quotes, '$' or '\' (boot entries put
// the line inside quoted GRUB strings); at most 1024 bytes; and none of the keys each entry sets
// itself (basalt.usr=, basalt.usrhash=, basalt.slot=), their aliases basalt-init also reads
// (mount.usr=, usrhash=), or what the bootloader sets (BOOT_IMAGE=, initrd=): basalt-init refuses
// a line that repeats its keys, so such an image could never boot. `what` names the input.
Status CheckImageKernelArgs(std::string_view args, std::string_view what);

}  // namespace basalt
