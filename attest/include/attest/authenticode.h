// The Authenticode image hash of a PE32+ file: the digest UEFI firmware computes before it starts
// an EFI application (the one db/dbx entries and signatures name) and measures into PCR 4 as the
// EV_EFI_BOOT_SERVICES_APPLICATION event. Knowing it at release time is how a verifier
// recognises "the firmware started this release's UKI" in a host's event log (docs/attestation.md).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/error.h"

namespace basalt::attest {

// SHA-256 over the image as Microsoft's "Windows Authenticode Portable Executable Signature
// Format" and EDK2's measured-boot code define it: the headers up to SizeOfHeaders without the
// CheckSum field and the Certificate Table directory entry, then each section's raw data in
// PointerToRawData order, then whatever follows the sections except the attribute certificate
// table at the end (so a signed image and its unsigned original hash alike).
// The image is untrusted: every rule it breaks is a one-line kInvalidInput error naming it.
// Beyond pe_sections' rules: SizeOfHeaders covers the section table and lies inside the image;
// sections' raw data (those with any) start at or after SizeOfHeaders and do not overlap; a
// certificate table, if present, starts after the last section and ends the image.
[[nodiscard]] Result<std::array<uint8_t, 32>> AuthenticodeSha256(std::string_view pe_image);

}  // namespace basalt::attest
