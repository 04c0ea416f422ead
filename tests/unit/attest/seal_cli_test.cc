// `basalt keys pcr-policy` and `basalt attest sign-policy|seal|unseal` as an operator runs them,
// against a swtpm: files and modes, exit codes (docs/cli.md), one error line.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "swtpm.h"
#include "test_util.h"
#include "tpm/tpm_context.h"

namespace basalt {
namespace {

using testing::Quote;
using testing::Sh;

std::string Basalt() {
  const char* dir = getenv("BASALT_BIN_DIR");
  return std::string(dir ? dir : ".") + "/basalt";
}

mode_t Mode(const std::string& path) {
  struct stat st = {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(AttestSealCli, KeysSealSignUnseal) {
  testing::TempDir dir;
  std::string why;
  auto swtpm = testing::Swtpm::Start(dir / "tpm", &why);
  if (!swtpm) GTEST_SKIP() << why;
  const std::string b = Basalt(), tcti = Quote(swtpm->tcti());
  auto run = [&](const std::string& args) {
    return Sh(fmt::format("cd {} && {} {} 2>err.txt", Quote(dir.path()), Quote(b), args));
  };
  auto err = [&] { return *ReadFileToString(dir / "err.txt"); };

  auto r = run("keys pcr-policy --output keys --json");
  ASSERT_EQ(r.status, 0) << err();
  EXPECT_NE(r.output.find("\"pkfp\""), std::string::npos) << r.output;
  EXPECT_EQ(Mode(dir / "keys/tpm2-pcr-private-key.pem"), 0600u);
  EXPECT_EQ(Mode(dir / "keys/tpm2-pcr-public-key.pem"), 0644u);
  EXPECT_EQ(Mode(dir / "keys"), 0700u);
  EXPECT_EQ(run("keys pcr-policy --output keys").status, 5) << "never overwrite";
  EXPECT_EQ(err().rfind("basalt: error: ", 0), 0u) << err();

  testing::WriteFile(dir / "secret", "disk key");
  r =
      run("attest seal --policy-key keys/tpm2-pcr-public-key.pem --input secret --output blob "
          "--tcti " +
          tcti);
  ASSERT_EQ(r.status, 0) << err();
  EXPECT_EQ(Mode(dir / "blob"), 0600u);
  EXPECT_EQ(run("attest seal --policy-key keys/tpm2-pcr-public-key.pem --input secret --output "
                "blob --tcti " +
                tcti)
                .status,
            5)
      << "a sealed blob is never overwritten";

  // PCR 11 of a fresh TPM is all zero: sign that value, as a release signs its UKI's.
  r = run("attest sign-policy --key keys/tpm2-pcr-private-key.pem --pcr11 " + std::string(64, '0') +
          " --output sig.json");
  ASSERT_EQ(r.status, 0) << err();
  r =
      run("attest unseal --blob blob --policy-key keys/tpm2-pcr-public-key.pem --signature "
          "sig.json --tcti " +
          tcti);
  ASSERT_EQ(r.status, 0) << err();
  EXPECT_EQ(r.output, "disk key");

  // The same policy read from the UKI this boot started (.pcrpkey and .pcrsig), as a host does.
  constexpr char kStub[] = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
  if (access(kStub, R_OK) == 0 && testing::MissingTool({"objcopy"}).empty()) {
    ASSERT_EQ(Sh(fmt::format("cd {} && objcopy --add-section .pcrsig=sig.json --add-section "
                             ".pcrpkey=keys/tpm2-pcr-public-key.pem {} uki.efi && objcopy {} "
                             "plain.efi",
                             Quote(dir.path()), kStub, kStub))
                  .status,
              0);
    r = run("attest unseal --blob blob --uki uki.efi --tcti " + tcti);
    ASSERT_EQ(r.status, 0) << err();
    EXPECT_EQ(r.output, "disk key");
    r = run("attest unseal --blob blob --uki plain.efi --tcti " + tcti);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(err().find("no .pcrpkey section"), std::string::npos) << err();
    EXPECT_EQ(run("attest unseal --blob blob --uki uki.efi --signature sig.json").status, 2)
        << "--uki and --signature exclude each other";
  } else {
    ADD_FAILURE() << "objcopy (binutils) or " << kStub << " (systemd-boot-efi) is missing";
  }

  {  // A boot that measured something else. (swtpm serves one client: close before the CLI.)
    auto ctx = tpm::TpmContext::Open(swtpm->tcti());
    ASSERT_TRUE(ctx) << ctx.error().message();
    TPML_DIGEST_VALUES v = {};
    v.count = 1;
    v.digests[0].hashAlg = TPM2_ALG_SHA256;
    const Sha256Digest m = Sha256("unsigned section");
    std::memcpy(v.digests[0].digest.sha256, m.data(), m.size());
    ASSERT_TRUE(tpm::TssCheck(Esys_PCR_Extend(ctx->esys(), ESYS_TR_PCR11, ESYS_TR_PASSWORD,
                                              ESYS_TR_NONE, ESYS_TR_NONE, &v),
                              "extend"));
  }
  r =
      run("attest unseal --blob blob --policy-key keys/tpm2-pcr-public-key.pem --signature "
          "sig.json --tcti " +
          tcti + " --output out");
  EXPECT_EQ(r.status, 5) << err();
  const std::string refusal = err();
  EXPECT_EQ(refusal.rfind("basalt: error: unseal blob: no signed policy for this boot's PCR 11", 0),
            0u)
      << refusal;
  EXPECT_EQ(std::count(refusal.begin(), refusal.end(), '\n'), 1) << refusal;
  EXPECT_NE(access((dir / "out").c_str(), F_OK), 0) << "nothing written on refusal";

  EXPECT_EQ(run("attest sign-policy --key keys/tpm2-pcr-private-key.pem --pcr11 xyz --output "
                "s.json")
                .status,
            3);
  EXPECT_EQ(run("attest unseal --blob blob --policy-key keys/tpm2-pcr-public-key.pem").status, 2);
}

}  // namespace
}  // namespace basalt
