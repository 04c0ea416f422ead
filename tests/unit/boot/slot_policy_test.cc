#include "boot/slot_policy.h"

#include <gtest/gtest.h>

#include "backends/gptprio/gptprio_bits.h"

namespace basalt::boot {
namespace {

SlotAttributes S(int priority, int tries, bool successful) {
  return SlotAttributes{.priority = priority, .tries = tries, .successful = successful};
}

// The table of gptprio.next: (A, B) -> chosen slot, and A/B tries after the choice.
struct Row {
  SlotAttributes a, b;
  std::optional<Slot> chosen;
  int a_tries_after, b_tries_after;
};

TEST(GptPrioNext, MatchesTable) {
  const Row rows[] = {
      // Priority wins.
      {S(1, 0, true), S(2, 0, true), Slot::kB, 0, 0},
      {S(2, 0, true), S(1, 0, true), Slot::kA, 0, 0},
      // Pending slot with tries left is chosen and its tries count down.
      {S(1, 0, true), S(2, 3, false), Slot::kB, 0, 2},
      {S(1, 0, true), S(2, 1, false), Slot::kB, 0, 0},
      // No tries and not successful: never, fall back.
      {S(1, 0, true), S(2, 0, false), Slot::kA, 0, 0},
      // Priority 0 never, even with tries or successful.
      {S(0, 5, true), S(1, 0, true), Slot::kB, 5, 0},
      {S(0, 0, true), S(0, 3, false), std::nullopt, 0, 3},
      // Ties go to the lower partition number (A).
      {S(2, 1, false), S(2, 1, false), Slot::kA, 0, 1},
      {S(3, 0, true), S(3, 0, true), Slot::kA, 0, 0},
      // A successful slot with tries left still counts down (gptprio decrements any tries>0).
      {S(2, 2, true), S(1, 0, true), Slot::kA, 1, 0},
      // Nothing bootable.
      {S(0, 0, false), S(0, 0, false), std::nullopt, 0, 0},
      {S(1, 0, false), S(1, 0, false), std::nullopt, 0, 0},
      // Max values.
      {S(15, 15, false), S(14, 0, true), Slot::kA, 14, 0},
  };
  for (const Row& r : rows) {
    SlotTable t = {r.a, r.b};
    EXPECT_EQ(SelectNext(t), r.chosen);
    EXPECT_EQ(ConsumeBootAttempt(t), r.chosen);
    EXPECT_EQ(t[0].tries, r.a_tries_after);
    EXPECT_EQ(t[1].tries, r.b_tries_after);
  }
}

TEST(SlotPolicy, SetNextCountsDownThenFallsBack) {
  SlotTable t = {S(1, 0, true), S(0, 0, false)};
  auto n = ApplySetNext(t, Slot::kB, 2);
  ASSERT_TRUE(n);
  t = *n;
  EXPECT_EQ(ConsumeBootAttempt(t), Slot::kB);  // try 1 fails
  EXPECT_EQ(ConsumeBootAttempt(t), Slot::kB);  // try 2 fails
  EXPECT_EQ(ConsumeBootAttempt(t), Slot::kA);  // fallback
  EXPECT_EQ(HealthOf(t[1]), SlotHealth::kBad);
  EXPECT_EQ(HealthOf(t[0]), SlotHealth::kGood);
}

TEST(SlotPolicy, GoodFlipSticks) {
  SlotTable t = {S(1, 0, true), S(0, 0, false)};
  t = *ApplySetNext(t, Slot::kB, 3);
  EXPECT_EQ(ConsumeBootAttempt(t), Slot::kB);
  t = *ApplyMarkGood(t, Slot::kB);
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(ConsumeBootAttempt(t), Slot::kB);
  EXPECT_EQ(HealthOf(t[1]), SlotHealth::kGood);
  EXPECT_EQ(HealthOf(t[0]), SlotHealth::kGood);  // A stays the fallback
  EXPECT_EQ(t[0].priority, 1);
}

TEST(SlotPolicy, SetNextRejectsBadTries) {
  SlotTable t = {S(1, 0, true), S(0, 0, false)};
  EXPECT_FALSE(ApplySetNext(t, Slot::kB, 0));
  EXPECT_FALSE(ApplySetNext(t, Slot::kB, 16));
}

TEST(SlotPolicy, MarkBadRefusesToLeaveNothingBootable) {
  SlotTable t = {S(1, 0, true), S(0, 0, false)};
  auto r = ApplyMarkBad(t, Slot::kA);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::kPolicy);
  EXPECT_NE(r.error().message().find("no slot would be left"), std::string::npos);
  SlotTable both = {S(1, 0, true), S(2, 0, true)};
  auto ok = ApplyMarkBad(both, Slot::kB);
  ASSERT_TRUE(ok);
  EXPECT_EQ(SelectNext(*ok), Slot::kA);
}

TEST(SlotPolicy, RollbackNeedsGoodTarget) {
  SlotTable t = {S(1, 0, true), S(2, 0, true)};
  auto r = ApplyRollback(t, Slot::kB);
  ASSERT_TRUE(r);
  EXPECT_EQ(SelectNext(*r), Slot::kA);
  EXPECT_EQ(HealthOf((*r)[1]), SlotHealth::kGood);
  SlotTable pending = {S(1, 0, true), S(2, 2, false)};
  EXPECT_FALSE(ApplyRollback(pending, Slot::kA));
}

TEST(SlotPolicy, MarkGoodNeverCreatesTies) {
  SlotTable t = {S(1, 0, true), S(0, 0, false)};
  auto r = ApplyMarkGood(t, Slot::kB);
  ASSERT_TRUE(r);
  EXPECT_NE((*r)[0].priority, (*r)[1].priority);
}

TEST(GptPrioBits, RoundTripKeepsOtherBits) {
  uint64_t attrs = (uint64_t{1} << 60) | 1;  // read-only + required
  SlotAttributes s = S(2, 3, true);
  uint64_t enc = EncodeGptPrio(attrs, s);
  EXPECT_EQ(enc, attrs | (uint64_t{2} << 48) | (uint64_t{3} << 52) | (uint64_t{1} << 56));
  EXPECT_EQ(DecodeGptPrio(enc), s);
  EXPECT_EQ(EncodeGptPrio(enc, S(0, 0, false)), attrs);
}

}  // namespace
}  // namespace basalt::boot
