// The predictions on a real UKI (BuildUki with Debian's systemd-stub 252), against the tools
// that define them: systemd-measure 252 for PCR 11, pesign and the digest inside sbsign's
// signature for the Authenticode hash. Skips only when a peer is really absent (CI installs
// them all: build/install-deps.sh), naming it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "attest/authenticode.h"
#include "attest/uki_measurements.h"
#include "common/fd.h"
#include "common/hex.h"
#include "common/pe_sections.h"
#include "image/secure_boot.h"
#include "image/uki.h"
#include "test_util.h"

namespace basalt::attest {
namespace {

using basalt::testing::Quote;
using basalt::testing::Sh;
using basalt::testing::TempDir;
using basalt::testing::WriteFile;

constexpr char kStub[] = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
constexpr char kSystemdMeasure[] = "/usr/lib/systemd/systemd-measure";

class UkiPeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = basalt::testing::MissingTool({"objcopy"}); !missing.empty()) {
      GTEST_SKIP() << missing << " (binutils, which builds the UKI) is not installed";
    }
    if (::access(kStub, R_OK) != 0) GTEST_SKIP() << kStub << " (systemd-boot-efi) is absent";
    // Sizes that are not page or FileAlignment multiples, and bytes that are not all alike, so
    // a wrong length or offset shows.
    std::string kernel(300001, '\0'), initrd(70001, '\0');
    for (size_t i = 0; i < kernel.size(); ++i)
      kernel[i] = static_cast<char>(i * 7 + i / 251);
    for (size_t i = 0; i < initrd.size(); ++i)
      initrd[i] = static_cast<char>(i * 13 + 5);
    WriteFile(dir_ / "vmlinuz", kernel);
    WriteFile(dir_ / "initrd.img", initrd);
    auto built = BuildUki(Inputs(), uki_);
    ASSERT_TRUE(built) << built.error().message();
    image_ = *ReadFileToString(uki_);
  }

  UkiInputs Inputs() const {
    return {kStub,
            dir_ / "vmlinuz",
            dir_ / "initrd.img",
            "ID=basalt\nVERSION_ID=1.2.3\n",
            "basalt.usrhash=4f2b2e6a console=ttyS0",
            1700000000};
  }

  TempDir dir_;
  const std::string uki_ = dir_ / "uki.efi";
  std::string image_;
};

// systemd-measure calculate's JSON for the UKI's measured sections (those it has), extracted to
// files: phase -> hex. .pcrsig is not passed: the stub does not measure it.
std::map<std::string, std::string> SystemdMeasure(const std::string& image, const TempDir& dir) {
  static constexpr std::array<std::string_view, 5> kNames = {".linux", ".osrel", ".cmdline",
                                                             ".initrd", ".pcrpkey"};
  auto sections = ReadPeSections(image, kNames);
  EXPECT_TRUE(sections) << sections.error().message();
  std::string args;
  for (std::string_view name : kNames) {
    if (!sections->contains(std::string(name))) continue;
    const std::string file = dir / ("section" + std::string(name));
    WriteFile(file, sections->at(std::string(name)));
    args += fmt::format(" --{}={}", name.substr(1), Quote(file));
  }
  for (std::string_view phase : kPcrPhases)
    args += fmt::format(" --phase={}", phase);
  auto r = Sh(std::string(kSystemdMeasure) + " calculate --bank=sha256 --json=short" + args +
              " 2>/dev/null");
  EXPECT_EQ(r.status, 0) << r.output;
  std::map<std::string, std::string> out;
  const nlohmann::json doc = nlohmann::json::parse(r.output);
  for (const auto& entry : doc.at("sha256")) {
    EXPECT_EQ(entry.at("pcr"), 11);
    out[entry.at("phase").get<std::string>()] = entry.at("hash").get<std::string>();
  }
  return out;
}

TEST_F(UkiPeerTest, Pcr11PhasesEqualSystemdMeasure) {
  if (::access(kSystemdMeasure, X_OK) != 0) {
    GTEST_SKIP() << kSystemdMeasure << " (systemd 252, the PCR 11 peer) is absent";
  }
  auto m = MeasureUki(image_);
  ASSERT_TRUE(m) << m.error().message();
  const auto peer = SystemdMeasure(image_, dir_);
  ASSERT_EQ(peer.size(), std::size(kPcrPhases));
  EXPECT_EQ(m->pcr11_phases, peer);
  EXPECT_TRUE(CheckMeasurements(*m));
}

// With the PCR policy sections BuildUki can add: .pcrpkey is measured (after .dtb), .pcrsig not.
TEST_F(UkiPeerTest, PcrPolicySectionsMeasuredAsSystemdMeasureDoes) {
  if (::access(kSystemdMeasure, X_OK) != 0) {
    GTEST_SKIP() << kSystemdMeasure << " (systemd 252, the PCR 11 peer) is absent";
  }
  UkiInputs in = Inputs();
  in.pcrpkey = "-----BEGIN PUBLIC KEY-----\nk\n-----END PUBLIC KEY-----\n";
  in.pcrsig = R"({"sha256":[]})";
  const std::string with_policy = dir_ / "policy.efi";
  auto built = BuildUki(in, with_policy);
  ASSERT_TRUE(built) << built.error().message();
  const std::string image = *ReadFileToString(with_policy);
  auto m = MeasureUki(image);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->pcr11_phases, SystemdMeasure(image, dir_));
  EXPECT_NE(m->pcr11, MeasureUki(image_)->pcr11);  // .pcrpkey counts
  // Another .pcrsig (the policy is signed after the UKI is measured) changes nothing in PCR 11.
  in.pcrsig = R"({"sha256":[{"pcrs":[11]}]})";
  ASSERT_TRUE(BuildUki(in, dir_ / "policy2.efi"));
  EXPECT_EQ(MeasureUki(*ReadFileToString(dir_ / "policy2.efi"))->pcr11, m->pcr11);
}

TEST_F(UkiPeerTest, AuthenticodeEqualsPesignAndSbsignSignedDigest) {
  if (auto missing = basalt::testing::MissingTool({"pesign", "sbsign", "sbverify", "openssl"});
      !missing.empty()) {
    GTEST_SKIP() << missing << " (an Authenticode peer) is not installed";
  }
  auto r = Sh(fmt::format(
      "openssl req -new -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=db -keyout {0}.key "
      "-out {0}.crt 2>&1",
      Quote(dir_ / "db")));
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string signed_uki = dir_ / "signed.efi";
  ASSERT_TRUE(SignEfiBinary({dir_ / "db.key", dir_ / "db.crt"}, uki_, signed_uki));
  const std::string signed_image = *ReadFileToString(signed_uki);
  ASSERT_NE(signed_image, image_);

  // sbsign first pads the image to a multiple of 8 bytes (the certificate table's alignment), and
  // that padding is data after the last section, so it is hashed: the signed UKI's digest is the
  // unsigned one's once padded so. Firmware measures the file it loads, so predictions are made
  // from the signed bytes (image/src/uki_step.cc).
  std::string padded = image_;
  padded.resize((padded.size() + 7) / 8 * 8, '\0');
  WriteFile(dir_ / "padded.efi", padded);
  auto ours = AuthenticodeSha256(signed_image);
  ASSERT_TRUE(ours) << ours.error().message();
  EXPECT_EQ(*AuthenticodeSha256(padded), *ours);
  for (const std::string& file : {uki_, signed_uki, dir_ / "padded.efi"}) {
    auto pesign = Sh("pesign --hash --in " + Quote(file) + " 2>/dev/null");
    ASSERT_EQ(pesign.status, 0) << pesign.output;
    auto image = ReadFileToString(file);
    EXPECT_EQ(pesign.output, "hash: " + ToHex(*AuthenticodeSha256(*image)) + "\n") << file;
  }

  // The SpcIndirectDataContent digest sbsign signed: the PKCS#7 blob after the 8-byte
  // WIN_CERTIFICATE header; its first 32-byte OCTET STRING is the image hash.
  auto h = ParsePeHeaders(signed_image);
  ASSERT_TRUE(h);
  ASSERT_GT(h->cert_table_size, 8u);
  WriteFile(dir_ / "sig.der",
            signed_image.substr(h->cert_table_offset + 8, h->cert_table_size - 8));
  auto asn1 = Sh("openssl asn1parse -inform DER -in " + Quote(dir_ / "sig.der"));
  ASSERT_EQ(asn1.status, 0) << asn1.output;
  // The digest is the first 32-byte OCTET STRING: SpcIndirectDataContent's. (No std::regex:
  // g++ 12 warns inside <regex> under the ASan preset's -O1.)
  const std::string marker = "l=  32 prim: OCTET STRING      [HEX DUMP]:";
  const size_t at = asn1.output.find(marker);
  ASSERT_NE(at, std::string::npos) << asn1.output;
  std::string signed_digest = asn1.output.substr(at + marker.size(), 64);
  for (char& c : signed_digest)
    c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(signed_digest, ToHex(*ours));

  // Signing leaves PCR 11 alone: the stub measures sections, not the signature.
  EXPECT_EQ(MeasureUki(signed_image)->pcr11, MeasureUki(image_)->pcr11);
}

TEST_F(UkiPeerTest, CliPredictTextAndJson) {
  if (::access(kSystemdMeasure, X_OK) != 0) {
    GTEST_SKIP() << kSystemdMeasure << " (systemd 252, the PCR 11 peer) is absent";
  }
  const char* bin_dir = std::getenv("BASALT_BIN_DIR");
  ASSERT_NE(bin_dir, nullptr);
  const std::string basalt = std::string(bin_dir) + "/basalt";
  auto m = MeasureUki(image_);
  ASSERT_TRUE(m);
  auto json = Sh(Quote(basalt) + " attest predict --json " + Quote(uki_) + " " + Quote(uki_));
  ASSERT_EQ(json.status, 0) << json.output;
  auto doc = nlohmann::json::parse(json.output);
  ASSERT_EQ(doc.size(), 2u);
  EXPECT_EQ(doc[0]["uki"], uki_);
  EXPECT_EQ(doc[0]["authenticode_sha256"], m->authenticode_sha256);
  EXPECT_EQ(doc[0]["pcr11"], m->pcr11);
  using PhaseMap = std::map<std::string, std::string>;
  EXPECT_EQ(doc[0]["pcr11_phases"].get<PhaseMap>(), m->pcr11_phases);

  // The text's phase lines are systemd-measure's output, comment for comment.
  auto text = Sh(Quote(basalt) + " attest predict " + Quote(uki_));
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("authenticode:sha256=" + m->authenticode_sha256 + "\n"),
            std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("# PCR[11] after systemd-stub\n11:sha256=" + m->pcr11 + "\n"),
            std::string::npos)
      << text.output;
  std::string phases;
  for (std::string_view phase : kPcrPhases) {
    phases += fmt::format("# PCR[11] Phase <{}>\n11:sha256={}\n", phase,
                          m->pcr11_phases.at(std::string(phase)));
  }
  EXPECT_NE(text.output.find(phases), std::string::npos) << text.output;

  auto bad = Sh(Quote(basalt) + " attest predict " + Quote(dir_ / "vmlinuz") + " 2>&1");
  EXPECT_EQ(bad.status, 3) << bad.output;  // kExitInvalidInput
  EXPECT_NE(bad.output.find("vmlinuz"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace basalt::attest
