// The uki backend's part of `basalt image build`: one UKI per slot (systemd-stub + the image's
// kernel and initramfs + that slot's command line and os-release), signed for Secure Boot when
// the build has a key, and systemd-boot signed with it. The UKIs go to the output directory
// (uki/A.efi, uki/B.efi) because a release carries them next to /usr: the command line holds
// the root hash, so a UKI cannot live inside the /usr it protects.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "boot/slot_entry.h"
#include "common/error.h"
#include "image/secure_boot.h"

namespace basalt::image {

struct UkiStepInputs {
  std::string stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
  std::string kernel_bytes;
  std::string initramfs;
  std::string os_name;
  std::array<boot::SlotEntry, 2> slots;  // A, B: the same version and root hash, own PARTUUID
  int64_t source_date_epoch = 0;
  std::optional<SecureBootSigner> signer;
  // The release's PCR policy private key (PEM): each UKI carries its public half (.pcrpkey)
  // and the signed policies for its own PCR 11 values (.pcrsig). Unset: neither.
  std::optional<std::string> pcr_policy_key = {};
  std::string boot_loader;  // systemd-bootx64.efi, unsigned
  std::string work;         // scratch directory
  std::string out_dir;      // gets uki/A.efi, uki/B.efi
};

struct UkiStepOutput {
  std::string uki_a;        // slot A's UKI bytes, for the fresh ESP
  std::string boot_loader;  // signed when a signer was given
  nlohmann::json record;    // image.json "uki" and "secure_boot"
};

Result<UkiStepOutput> BuildSlotUkis(const UkiStepInputs& in);

}  // namespace basalt::image
