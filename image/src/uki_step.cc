#include "uki_step.h"

#include <sys/stat.h>

#include "attest/uki_measurements.h"
#include "boot/uki_entry.h"
#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "image/uki.h"

namespace basalt::image {
namespace {

// Signs `in` into `out` when there is a signer (and checks the signature with sbverify, so a
// key and certificate that do not match fail the build, not the boot); copies it otherwise.
Status SignOrCopy(const std::optional<SecureBootSigner>& signer, const std::string& in,
                  const std::string& out) {
  if (!signer) {
    BASALT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(in));
    return WriteFileAtomic(out, bytes, 0644);
  }
  BASALT_RETURN_IF_ERROR(SignEfiBinary(*signer, in, out));
  auto verified = VerifyEfiBinary(signer->cert, out);
  if (!verified) {
    return std::unexpected(verified.error().WithContext(
        fmt::format("{} does not verify with --secure-boot-cert {}", out, signer->cert)));
  }
  return {};
}

}  // namespace

Result<UkiStepOutput> BuildSlotUkis(const UkiStepInputs& in) {
  const std::string kernel = in.work + "/uki-vmlinuz", initrd = in.work + "/uki-initrd.img";
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(kernel, in.kernel_bytes, 0600));
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(initrd, in.initramfs, 0600));
  if (mkdir((in.out_dir + "/uki").c_str(), 0755) != 0) return FailErrno("mkdir uki");
  UkiStepOutput out;
  nlohmann::json ukis = nlohmann::json::object();
  for (boot::Slot slot : boot::kAllSlots) {
    const boot::SlotEntry& entry = in.slots[boot::SlotIndex(slot)];
    const std::string name(boot::SlotName(slot));
    UkiInputs u;
    u.stub = in.stub;
    u.kernel = kernel;
    u.initrd = initrd;
    u.os_release_text = boot::RenderUkiOsRelease(in.os_name, entry, slot);
    BASALT_ASSIGN_OR_RETURN(u.cmdline, boot::RenderUkiCmdline(entry));
    u.source_date_epoch = in.source_date_epoch;
    const std::string unsigned_uki = fmt::format("{}/uki-{}.efi", in.work, name);
    BASALT_RETURN_IF_ERROR(BuildUki(u, unsigned_uki));
    const std::string file = fmt::format("uki/{}.efi", name);
    BASALT_RETURN_IF_ERROR(SignOrCopy(in.signer, unsigned_uki, in.out_dir + "/" + file));
    BASALT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(in.out_dir + "/" + file));
    // What a host booting this UKI will measure, from the bytes firmware will load (signing
    // pads the image and adds a certificate table, which changes the Authenticode digest's
    // input, so it is taken after signing). docs/attestation.md.
    auto m = attest::MeasureUki(bytes);
    if (!m) return std::unexpected(std::move(m).error().WithContext("measure " + file));
    ukis[name] = {{"file", file},
                  {"size", bytes.size()},
                  {"sha256", ToHex(Sha256(bytes))},
                  {"measurements",
                   {{"authenticode_sha256", m->authenticode_sha256},
                    {"pcr11", m->pcr11},
                    {"pcr11_phases", m->pcr11_phases}}}};
    if (slot == boot::Slot::kA) out.uki_a = std::move(bytes);
  }
  const std::string loader = in.work + "/systemd-bootx64.efi";
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(loader, in.boot_loader, 0600));
  BASALT_RETURN_IF_ERROR(SignOrCopy(in.signer, loader, loader + ".out"));
  BASALT_ASSIGN_OR_RETURN(out.boot_loader, ReadFileToString(loader + ".out"));
  nlohmann::json sb = {{"signed", in.signer.has_value()}};
  if (in.signer) {
    BASALT_ASSIGN_OR_RETURN(std::string cert, ReadFileToString(in.signer->cert));
    sb["cert_sha256"] = ToHex(Sha256(cert));
  }
  out.record = {{"uki", ukis}, {"secure_boot", sb}};
  return out;
}

}  // namespace basalt::image
