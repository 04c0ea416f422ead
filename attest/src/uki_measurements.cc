#include "attest/uki_measurements.h"

#include <algorithm>
#include <array>
#include <string>

#include "attest/authenticode.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/pe_sections.h"
#include "common/printable.h"

namespace basalt::attest {
namespace {

// A TPM PCR extend in the sha256 bank: new = SHA256(old || SHA256(data)).
void Extend(Sha256Digest& pcr, std::string_view data) {
  const Sha256Digest d = Sha256(data);
  Hasher h(HashAlgorithm::kSha256);
  h.Update(std::span<const uint8_t>(pcr));
  h.Update(std::span<const uint8_t>(d));
  h.Final(pcr.data());
}

bool IsDigestHex(std::string_view v) {
  return v.size() == 64 && std::all_of(v.begin(), v.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

struct Pcr11Values {
  std::string pcr11;
  std::map<std::string, std::string> phases;
};

// PCR 11 from the data of each measured section present (by name; empty data counts as absent).
Pcr11Values PredictPcr11(const std::map<std::string, std::string>& sections) {
  Sha256Digest pcr{};  // PCR 11 is all zeroes after a reset, and firmware does not touch it
  for (std::string_view name : kMeasuredSections) {
    auto it = sections.find(std::string(name));
    if (it == sections.end() || it->second.empty()) continue;
    // The stub measures the name with its terminating NUL (strsize8), then the data.
    Extend(pcr, std::string(name) + '\0');
    Extend(pcr, it->second);
  }
  Pcr11Values out;
  out.pcr11 = ToHex(pcr);
  // systemd-pcrphase measures the bare word (no NUL, no newline) at each phase; each path
  // starts again from the stub's value.
  for (std::string_view phase : kPcrPhases) {
    auto value = pcr;
    for (std::string_view rest = phase; !rest.empty();) {
      const size_t colon = rest.find(':');
      Extend(value, rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
    out.phases[std::string(phase)] = ToHex(value);
  }
  return out;
}

}  // namespace

Result<UkiMeasurements> MeasureUki(std::string_view image) {
  UkiMeasurements m;
  auto digest = AuthenticodeSha256(image);
  if (!digest) return std::unexpected(std::move(digest).error().WithContext("UKI"));
  m.authenticode_sha256 = ToHex(*digest);
  BASALT_ASSIGN_OR_RETURN(PeHeaders h, ParsePeHeaders(image));
  // Which bytes systemd-stub 252 measures (src/boot/efi/pe.c, stub.c): it finds a section by
  // comparing the first strlen(name) bytes of the 8-byte header name, so ".linuxXY" counts as
  // .linux and a later match replaces an earlier one; and it measures VirtualSize bytes at the
  // section's address in the loaded image. The loader copied min(VirtualSize, SizeOfRawData)
  // bytes there from the file and zero-filled the rest. Two candidate sections are refused here
  // rather than resolved like the stub (a UKI that has them is not one we built, and the first
  // one is what objdump and ReadPeSections show a reviewer); a zero-filled tail is refused too
  // (objcopy pads SizeOfRawData up to FileAlignment, so a UKI of ours never has one), which
  // leaves exactly VirtualSize bytes of file data: what ReadPeSections returns.
  std::map<std::string, std::string> data;
  for (std::string_view name : kMeasuredSections) {
    const PeSection* found = nullptr;
    for (const PeSection& s : h.sections) {
      if (!std::string_view(s.name).starts_with(name)) continue;
      if (found != nullptr) {
        return Failf(ErrorKind::kInvalidInput,
                     "UKI: sections \"{}\" and \"{}\" both count as {} for systemd-stub",
                     found->name, s.name, name);
      }
      found = &s;
    }
    if (found == nullptr || found->virtual_size == 0) continue;
    if (found->virtual_size > found->raw_size) {
      return Failf(ErrorKind::kInvalidInput,
                   "UKI: section {} has VirtualSize {} beyond its SizeOfRawData {} (the stub "
                   "would measure loader-made zeroes)",
                   found->name, found->virtual_size, found->raw_size);
    }
    data[std::string(name)] = std::string(image.substr(found->raw_offset, found->virtual_size));
  }
  Pcr11Values v = PredictPcr11(data);
  m.pcr11 = std::move(v.pcr11);
  m.pcr11_phases = std::move(v.phases);
  return m;
}

Status CheckMeasurements(const UkiMeasurements& m) {
  auto bad = [](std::string_view field) {
    return Failf(ErrorKind::kInvalidInput, "{}: not 64 lower-case hex digits", field);
  };
  if (!IsDigestHex(m.authenticode_sha256)) return bad("authenticode_sha256");
  if (!IsDigestHex(m.pcr11)) return bad("pcr11");
  for (const auto& [phase, value] : m.pcr11_phases) {
    if (std::find(std::begin(kPcrPhases), std::end(kPcrPhases), phase) == std::end(kPcrPhases)) {
      return Failf(ErrorKind::kInvalidInput, "pcr11_phases: unknown phase \"{}\"",
                   Printable(phase, 64));
    }
    if (!IsDigestHex(value)) return bad("pcr11_phases." + phase);
  }
  for (std::string_view phase : kPcrPhases) {
    if (!m.pcr11_phases.contains(std::string(phase))) {
      return Failf(ErrorKind::kInvalidInput, "pcr11_phases: missing phase \"{}\"", phase);
    }
  }
  return {};
}

}  // namespace basalt::attest
