// The mapping from `basalt verity open` options to libcryptsetup's parameters. Activation itself
// needs device-mapper and runs in the VM tests.
#include <gtest/gtest.h>
#include <libcryptsetup.h>

#include <cstring>

#include "activation.h"
#include "cryptsetup_plan.h"

namespace basalt::verity {
namespace {

OpenOptions Base() {
  OpenOptions o;
  o.name = "usr";
  o.data_path = "/dev/vda3";
  o.hash_offset = 1048576;
  o.root_hash.assign(32, 0xab);
  return o;
}

TEST(VerityActivationPlan, SuperblockInDataDeviceLoadsHeader) {
  auto plan = PlanActivation(Base());
  ASSERT_TRUE(plan) << plan.error().message();
  EXPECT_TRUE(plan->load_superblock);
  EXPECT_EQ(plan->hash_device, "/dev/vda3");
  EXPECT_EQ(plan->data_device, "/dev/vda3");
  crypt_params_verity p = plan->ToParams();
  EXPECT_EQ(p.hash_area_offset, 1048576u);
  EXPECT_EQ(p.flags, 0u);
  EXPECT_STREQ(p.data_device, "/dev/vda3");
  EXPECT_EQ(plan->activate_flags, CRYPT_ACTIVATE_READONLY);
  EXPECT_FALSE(plan->signed_activation);
}

TEST(VerityActivationPlan, NoSuperblockPassesEveryParameter) {
  OpenOptions o = Base();
  o.hash_path = "/dev/vdb";
  o.hash_offset = 8192;
  VerityParams v;
  v.superblock = false;
  v.algorithm = HashAlgorithm::kSha512;
  v.data_block_size = 1024;
  v.hash_block_size = 4096;
  v.data_blocks = 777;
  v.salt = {1, 2, 3};
  o.params = v;
  o.root_hash.assign(64, 1);
  auto plan = PlanActivation(o);
  ASSERT_TRUE(plan) << plan.error().message();
  EXPECT_FALSE(plan->load_superblock);
  crypt_params_verity p = plan->ToParams();
  EXPECT_STREQ(p.hash_name, "sha512");
  EXPECT_STREQ(p.hash_device, "/dev/vdb");
  EXPECT_STREQ(p.data_device, "/dev/vda3");
  EXPECT_EQ(p.salt_size, 3u);
  EXPECT_EQ(std::memcmp(p.salt, "\x01\x02\x03", 3), 0);
  EXPECT_EQ(p.hash_type, 1u);
  EXPECT_EQ(p.data_block_size, 1024u);
  EXPECT_EQ(p.hash_block_size, 4096u);
  EXPECT_EQ(p.data_size, 777u);
  EXPECT_EQ(p.hash_area_offset, 8192u);
  EXPECT_EQ(p.flags, CRYPT_VERITY_NO_HEADER);
}

TEST(VerityActivationPlan, SignatureAndCorruptionPolicies) {
  OpenOptions o = Base();
  o.root_hash_signature = {0x30, 0x82};
  o.on_corruption = OnCorruption::kRestart;
  o.check_at_most_once = true;
  auto plan = PlanActivation(o);
  ASSERT_TRUE(plan);
  EXPECT_TRUE(plan->signed_activation);
  EXPECT_EQ(plan->verity_flags & CRYPT_VERITY_ROOT_HASH_SIGNATURE,
            CRYPT_VERITY_ROOT_HASH_SIGNATURE);
  EXPECT_EQ(plan->activate_flags, CRYPT_ACTIVATE_READONLY | CRYPT_ACTIVATE_RESTART_ON_CORRUPTION |
                                      CRYPT_ACTIVATE_CHECK_AT_MOST_ONCE);
  o.on_corruption = OnCorruption::kPanic;
  o.check_at_most_once = false;
  o.ignore_zero_blocks = true;
  plan = PlanActivation(o);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->activate_flags, CRYPT_ACTIVATE_READONLY | CRYPT_ACTIVATE_PANIC_ON_CORRUPTION |
                                      CRYPT_ACTIVATE_IGNORE_ZERO_BLOCKS);
  o.on_corruption = OnCorruption::kIgnore;
  o.ignore_zero_blocks = false;
  plan = PlanActivation(o);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->activate_flags, CRYPT_ACTIVATE_READONLY | CRYPT_ACTIVATE_IGNORE_CORRUPTION);
}

TEST(VerityActivationPlan, RejectsBadOptions) {
  OpenOptions o = Base();
  o.hash_offset.reset();
  EXPECT_FALSE(PlanActivation(o));  // shared device needs the offset
  o = Base();
  o.name = "../evil";
  EXPECT_FALSE(PlanActivation(o));
  o = Base();
  o.root_hash.clear();
  EXPECT_FALSE(PlanActivation(o));
  o = Base();
  VerityParams v;
  v.superblock = false;
  v.data_blocks = 10;
  v.data_block_size = 3000;
  o.params = v;
  EXPECT_FALSE(PlanActivation(o));
  v.data_block_size = 4096;
  o.params = v;
  o.root_hash.assign(20, 0);  // sha256 root hash must be 32 bytes
  EXPECT_FALSE(PlanActivation(o));
}

}  // namespace
}  // namespace basalt::verity
