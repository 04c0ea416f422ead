// Decide: root without asking, everyone else as the authority says, and a refusal that says
// why when the authority cannot be asked.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "polkit_check.h"

namespace basalt::update {
namespace {

class FakeAuthority final : public Authority {
 public:
  Result<bool> answer = true;
  std::vector<std::pair<std::string, std::string>> asked = {};

  Result<bool> Check(std::string_view sender, std::string_view action_id) override {
    asked.emplace_back(sender, action_id);
    return answer;
  }
};

TEST(PolkitDecide, RootIsAllowedWithoutAskingPolkit) {
  FakeAuthority polkit;
  polkit.answer = Fail(ErrorKind::kNotFound, "polkit is unavailable (not on the bus)");
  AuthDecision d = Decide(0, ":1.7", kActionApply, polkit);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.message, "");
  EXPECT_TRUE(polkit.asked.empty());
}

TEST(PolkitDecide, OthersAreAskedAboutTheirBusNameAndTheMethodsAction) {
  FakeAuthority polkit;
  AuthDecision d = Decide(1000, ":1.42", kActionRollback, polkit);
  EXPECT_TRUE(d.allowed);
  ASSERT_EQ(polkit.asked.size(), 1u);
  EXPECT_EQ(polkit.asked[0].first, ":1.42");
  EXPECT_EQ(polkit.asked[0].second, "org.basalt.update1.rollback");
}

TEST(PolkitDecide, ANoFromPolkitNamesTheAction) {
  FakeAuthority polkit;
  polkit.answer = false;
  AuthDecision d = Decide(1000, ":1.42", kActionMarkGood, polkit);
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.message.find("not authorized for org.basalt.update1.mark-good by polkit"),
            std::string::npos)
      << d.message;
}

TEST(PolkitDecide, PolkitUnavailableRefusesAndSaysSo) {
  FakeAuthority polkit;
  polkit.answer = Fail(ErrorKind::kNotFound, "polkit is unavailable (not on the bus)");
  AuthDecision d = Decide(1000, ":1.42", kActionCheck, polkit);
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.message.find("polkit is unavailable"), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("only root"), std::string::npos) << d.message;
}

TEST(PolkitDecide, NoSenderCannotBeNamedToPolkit) {
  FakeAuthority polkit;
  AuthDecision d = Decide(1000, "", kActionCancel, polkit);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(polkit.asked.empty());
}

TEST(PolkitDecide, ActionIdsMatchThePolicyFile) {
  // units/org.basalt.update1.policy declares these; the integration test proves polkitd reads it.
  EXPECT_STREQ(kActionCheck, "org.basalt.update1.check");
  EXPECT_STREQ(kActionApply, "org.basalt.update1.apply");
  EXPECT_STREQ(kActionRollback, "org.basalt.update1.rollback");
  EXPECT_STREQ(kActionMarkGood, "org.basalt.update1.mark-good");
  EXPECT_STREQ(kActionCancel, "org.basalt.update1.cancel");
}

}  // namespace
}  // namespace basalt::update
