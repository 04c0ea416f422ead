// What a host's TPM will hold after it boots a given UKI, computed from the UKI file alone: the
// Authenticode digest firmware measures into PCR 4, and PCR 11 as systemd-stub 252 leaves it and
// as systemd-pcrphase extends it through the boot phases. `basalt image build` records these for
// each slot and `basalt release publish` signs them into the release (docs/attestation.md).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::attest {

struct UkiMeasurements {
  std::string authenticode_sha256;  // lower-case hex, attest/authenticode.h
  std::string pcr11;                // lower-case hex: PCR 11 (sha256 bank) after systemd-stub
  // systemd-pcrphase path ("enter-initrd", "enter-initrd:leave-initrd", ...; kPcrPhases) to the
  // PCR 11 value once those phase words are measured, lower-case hex.
  std::map<std::string, std::string> pcr11_phases;

  bool operator==(const UkiMeasurements&) const = default;
};

// The phase paths systemd 252's systemd-pcrphase units walk through, in boot order: the four
// `systemd-measure calculate` prints by default (a systemd initrd), then the two of a host whose
// initrd is not systemd — Basalt's own basalt-init — where only systemd-pcrphase-sysinit and
// systemd-pcrphase run, in the root file system.
inline constexpr std::string_view kPcrPhases[] = {
    "enter-initrd",
    "enter-initrd:leave-initrd",
    "enter-initrd:leave-initrd:sysinit",
    "enter-initrd:leave-initrd:sysinit:ready",
    "sysinit",
    "sysinit:ready",
};

// The UKI sections systemd-stub 252 measures into PCR 11, in its order (.pcrsig is left out:
// it holds signatures of these very values).
inline constexpr std::string_view kMeasuredSections[] = {
    ".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey",
};

// Hostile input: a malformed PE image, or one whose measured sections are ambiguous (two
// sections the stub would take for the same name) or zero-filled by the loader (VirtualSize
// beyond SizeOfRawData), is a kInvalidInput error naming the rule.
[[nodiscard]] Result<UkiMeasurements> MeasureUki(std::string_view pe_image);

// Whether every value is lower-case hex of a SHA-256 digest and `pcr11_phases` names exactly
// kPcrPhases. For readers of recorded measurements (image.json): the error names the rule.
[[nodiscard]] Status CheckMeasurements(const UkiMeasurements& m);

}  // namespace basalt::attest
