#include "tpm/tpm_context.h"

#include <gtest/gtest.h>

#include "swtpm.h"
#include "test_util.h"

namespace basalt::tpm {
namespace {

TEST(TpmContext, TalksToASoftwareTpm) {
  testing::TempDir dir;
  std::string why;
  auto swtpm = testing::Swtpm::Start(dir.path() + "/tpm", &why);
  if (!swtpm) GTEST_SKIP() << why;
  auto ctx = TpmContext::Open(swtpm->tcti());
  ASSERT_TRUE(ctx) << ctx.error().message();
  TPM2B_DIGEST* random = nullptr;
  ASSERT_TRUE(
      TssCheck(Esys_GetRandom(ctx->esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 16, &random),
               "GetRandom"));
  EsysPtr<TPM2B_DIGEST> owned(random);
  EXPECT_EQ(owned->size, 16);
}

TEST(TpmContext, NoTpmIsAnErrorNamingTheTransport) {
  auto ctx = TpmContext::Open("device:/nonexistent/tpmrm0");
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message().find("/nonexistent/tpmrm0"), std::string::npos)
      << ctx.error().message();
}

TEST(TpmContext, PolicyRefusalsAreKindPolicy) {
  // TPM_RC_POLICY_FAIL for session 1 (format one, N=1 with the session bit): a verdict.
  EXPECT_EQ(TssCheck(TPM2_RC_POLICY_FAIL | TPM2_RC_S | TPM2_RC_1, "Unseal").error().kind(),
            ErrorKind::kPolicy);
  EXPECT_EQ(TssCheck(TPM2_RC_SIGNATURE | TPM2_RC_P | TPM2_RC_2, "VerifySignature").error().kind(),
            ErrorKind::kPolicy);
  EXPECT_EQ(TssCheck(TPM2_RC_PCR_CHANGED, "Unseal").error().kind(), ErrorKind::kPolicy);
  EXPECT_EQ(TssCheck(TPM2_RC_FAILURE, "Quote").error().kind(), ErrorKind::kIo);
  EXPECT_EQ(TssCheck(TSS2_TCTI_RC_IO_ERROR, "Quote").error().kind(), ErrorKind::kIo);
}

}  // namespace
}  // namespace basalt::tpm
