#include "uki_step.h"

#include <sys/stat.h>

#include "attest/uki_measurements.h"
#include "boot/uki_entry.h"
#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "image/uki.h"
#include "tpm/pcr_policy.h"
#include "tpm/pcr_policy_key.h"

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

// The .pcrsig document for every PCR 11 value a correct boot of the UKI passes through: the
// stub's, and each systemd-pcrphase path (a secret may be unsealed at any of them).
Result<std::string> SignPcr11Values(const std::string& key, const attest::UkiMeasurements& m) {
  std::vector<tpm::PcrPolicyValue> values;
  auto add = [&](const std::string& hex) -> Status {
    auto raw = FromHex(hex);
    if (!raw || raw->size() != 32) {
      return Failf(ErrorKind::kInternal, "PCR 11 value {} is not 32 bytes of hex", hex);
    }
    tpm::PcrPolicyValue v;
    std::copy(raw->begin(), raw->end(), v.value.begin());
    values.push_back(v);
    return {};
  };
  BASALT_RETURN_IF_ERROR(add(m.pcr11));
  for (const auto& [phase, hex] : m.pcr11_phases)
    BASALT_RETURN_IF_ERROR(add(hex));
  auto sig = tpm::SignPcrPolicies(key, values);
  if (!sig) return std::unexpected(sig.error().WithContext("sign PCR 11 policies with " + key));
  return *sig;
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
    std::optional<attest::UkiMeasurements> policy_signed_for;
    if (in.pcr_policy_key) {
      // The signed policies name PCR 11 values, which depend on every measured section, the
      // public key among them; .pcrsig itself is not measured. So: build with the key, measure,
      // sign, and build again with the signatures.
      BASALT_ASSIGN_OR_RETURN(u.pcrpkey, tpm::PcrPolicyPublicPem(*in.pcr_policy_key));
      BASALT_RETURN_IF_ERROR(BuildUki(u, unsigned_uki));
      BASALT_ASSIGN_OR_RETURN(std::string first, ReadFileToString(unsigned_uki));
      auto m = attest::MeasureUki(first);
      if (!m) return std::unexpected(std::move(m).error().WithContext("measure " + unsigned_uki));
      BASALT_ASSIGN_OR_RETURN(u.pcrsig, SignPcr11Values(*in.pcr_policy_key, *m));
      policy_signed_for = std::move(*m);
    }
    BASALT_RETURN_IF_ERROR(BuildUki(u, unsigned_uki));
    const std::string file = fmt::format("uki/{}.efi", name);
    BASALT_RETURN_IF_ERROR(SignOrCopy(in.signer, unsigned_uki, in.out_dir + "/" + file));
    BASALT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(in.out_dir + "/" + file));
    // What a host booting this UKI will measure, from the bytes firmware will load (signing
    // pads the image and adds a certificate table, which changes the Authenticode digest's
    // input, so it is taken after signing). docs/attestation.md.
    auto m = attest::MeasureUki(bytes);
    if (!m) return std::unexpected(std::move(m).error().WithContext("measure " + file));
    if (policy_signed_for && (m->pcr11 != policy_signed_for->pcr11 ||
                              m->pcr11_phases != policy_signed_for->pcr11_phases)) {
      return Failf(ErrorKind::kInternal,
                   "{}: PCR 11 changed after its policies were signed (.pcrsig must not be "
                   "measured)",
                   file);
    }
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
