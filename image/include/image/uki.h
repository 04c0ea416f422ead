// A Unified Kernel Image: systemd-stub with the kernel, initramfs, os-release and command line
// added as PE sections, so one EFI binary (signed as a whole for Secure Boot) says what boots and
// with which /usr root hash. Built with binutils objcopy, made reproducible afterwards
// (docs/boot.md, "UKI build and Secure Boot signing").
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace basalt {

struct UkiInputs {
  std::string stub;  // /usr/lib/systemd/boot/efi/linuxx64.efi.stub (systemd-boot-efi 252)
  std::string kernel;
  std::string initrd;
  std::string os_release_text;
  std::string cmdline;
  int64_t source_date_epoch = 0;  // the PE TimeDateStamp (0 .. 2^32-1)
  // Optional (empty: left out). The public key of the release's PCR policy key (PEM), which
  // systemd-stub measures into PCR 11 with the rest, and the signed PCR policies for this UKI
  // (systemd-measure's JSON), which it does not measure: it can only be made once the measured
  // sections are final.
  std::string pcrpkey = {};
  std::string pcrsig = {};
};

// Writes the UKI to `out_path` crash-safely. The added sections follow the stub's own, in the
// order .osrel, .cmdline, [.pcrsig, .pcrpkey,] .linux, .initrd, each at a virtual address aligned
// to max(4096, the stub's SectionAlignment). The output depends on the inputs alone.
[[nodiscard]] Status BuildUki(const UkiInputs& in, const std::string& out_path);

}  // namespace basalt
