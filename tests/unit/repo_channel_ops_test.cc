// Channel operations keep every field they do not mean to change (a table over operations x
// fields, written by hand from docs/repository.md), and no operation but the documented
// widenings lets a host into a rollout wave early (a population of hosts run through the real
// decision before and after each operation).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "repo/channel_ops.h"
#include "unit/repo_test_util.h"

namespace basalt::repo {
namespace {
using namespace testing;
using std::chrono::hours;
using std::chrono::seconds;

constexpr seconds kExpiresIn = std::chrono::days(30);

enum class Field {
  kRelease,
  kFloor,
  kRolloutStart,
  kRolloutDuration,
  kRolloutLimit,
  kAllowDowngrade,
  kPaused,
  kPausedAt,
  kPinned,
  kExpires,
  kMetadataVersion,
};

constexpr Field kAllFields[] = {
    Field::kRelease,      Field::kFloor,          Field::kRolloutStart,    Field::kRolloutDuration,
    Field::kRolloutLimit, Field::kAllowDowngrade, Field::kPaused,          Field::kPausedAt,
    Field::kPinned,       Field::kExpires,        Field::kMetadataVersion,
};

const char* FieldName(Field f) {
  switch (f) {
    case Field::kRelease:
      return "release";
    case Field::kFloor:
      return "floor";
    case Field::kRolloutStart:
      return "rollout.start";
    case Field::kRolloutDuration:
      return "rollout.duration";
    case Field::kRolloutLimit:
      return "rollout.limit_percent";
    case Field::kAllowDowngrade:
      return "allow_downgrade";
    case Field::kPaused:
      return "paused";
    case Field::kPausedAt:
      return "paused_at";
    case Field::kPinned:
      return "pinned";
    case Field::kExpires:
      return "expires";
    case Field::kMetadataVersion:
      return "metadata_version";
  }
  return "?";
}

// A field as text, so expectations and failures read the same ("none" for absent).
std::string Get(const Channel& c, Field f) {
  switch (f) {
    case Field::kRelease:
      return c.release;
    case Field::kFloor:
      return c.floor.value_or("none");
    case Field::kRolloutStart:
      return c.rollout ? FormatTime(c.rollout->start) : "none";
    case Field::kRolloutDuration:
      return c.rollout ? FormatDuration(c.rollout->duration) : "none";
    case Field::kRolloutLimit:
      return c.rollout && c.rollout->limit_percent ? std::to_string(*c.rollout->limit_percent)
                                                   : "none";
    case Field::kAllowDowngrade:
      return c.allow_downgrade ? "true" : "false";
    case Field::kPaused:
      return c.paused ? "true" : "false";
    case Field::kPausedAt:
      return c.paused_at ? FormatTime(*c.paused_at) : "none";
    case Field::kPinned:
      return c.pinned ? "true" : "false";
    case Field::kExpires:
      return FormatTime(c.expires);
    case Field::kMetadataVersion:
      return std::to_string(c.metadata_version);
  }
  return "?";
}

std::string At(TimePoint t) {
  return FormatTime(t);
}

bool Published(const std::string& v) {
  return v == "1.0.0" || v == "1.5.0" || v == "2.0.0" || v == "3.0.0";
}

// The channel every row starts from (before its own tweak): 2.0.0 in a 48 h wave capped at 50%,
// started 12 h ago, with a floor; not paused, not pinned.
Channel Base() {
  Channel c = MakeChannel("2.0.0");
  c.metadata_version = 7;
  c.expires = T0() + hours(1);
  c.floor = "1.0.0";
  c.rollout = Rollout{.start = T0() - hours(12), .duration = hours(48), .limit_percent = 50};
  return c;
}

ChannelOp Op(ChannelOpKind kind, std::string release = "") {
  ChannelOp op;
  op.kind = kind;
  op.release = std::move(release);
  return op;
}

struct Row {
  const char* name;
  std::function<void(Channel&)> before;
  ChannelOp op;
  // The fields the operation changes, with their new values; every other field must be kept.
  // metadata_version and expires change with every operation and are checked for all rows.
  std::map<Field, std::string> changes;
};

TEST(ChannelOpsTable, EachOperationChangesOnlyWhatItNames) {
  const TimePoint now = T0();
  auto none = [](Channel&) {};
  auto paused_2h_ago = [](Channel& c) {
    c.paused = true;
    c.paused_at = T0() - hours(2);
  };
  auto with_rollout = [](ChannelOp op, Rollout r) {
    op.rollout = r;
    return op;
  };
  auto with_limit = [](ChannelOp op, uint32_t limit) {
    op.limit_percent = limit;
    return op;
  };
  const Row rows[] = {
      {"set to the current release (renewal by set)", none, Op(ChannelOpKind::kSet, "2.0.0"), {}},
      {"set to the current release keeps a rollback's downgrade and the pin",
       [](Channel& c) {
         c.allow_downgrade = true;
         c.pinned = true;
       },
       Op(ChannelOpKind::kSet, "2.0.0"),
       {}},
      {"set to a new release without a wave ships to everyone",
       none,
       Op(ChannelOpKind::kSet, "3.0.0"),
       {{Field::kRelease, "3.0.0"},
        {Field::kRolloutStart, "none"},
        {Field::kRolloutDuration, "none"},
        {Field::kRolloutLimit, "none"}}},
      {"set to a new release with a wave takes that wave",
       none,
       with_rollout(Op(ChannelOpKind::kSet, "3.0.0"), {.start = T0(), .duration = hours(24)}),
       {{Field::kRelease, "3.0.0"},
        {Field::kRolloutStart, At(T0())},
        {Field::kRolloutDuration, "1d"},
        {Field::kRolloutLimit, "none"}}},
      {"set to a new release keeps the pause",
       paused_2h_ago,
       with_rollout(Op(ChannelOpKind::kSet, "3.0.0"), {.start = T0(), .duration = hours(24)}),
       {{Field::kRelease, "3.0.0"},
        {Field::kRolloutStart, At(T0())},
        {Field::kRolloutDuration, "1d"},
        {Field::kRolloutLimit, "none"}}},
      {"set --force to the current release unpins only",
       [](Channel& c) { c.pinned = true; },
       [] {
         ChannelOp op = Op(ChannelOpKind::kSet, "2.0.0");
         op.force = true;
         return op;
       }(),
       {{Field::kPinned, "false"}}},
      {"pin the current release",
       none,
       Op(ChannelOpKind::kPin, "2.0.0"),
       {{Field::kPinned, "true"}}},
      {"pin another release restarts the wave now (positions depend on the version)",
       none,
       Op(ChannelOpKind::kPin, "3.0.0"),
       {{Field::kRelease, "3.0.0"}, {Field::kPinned, "true"}, {Field::kRolloutStart, At(T0())}}},
      {"pin an older release: a rollback held by the restarted wave",
       none,
       Op(ChannelOpKind::kPin, "1.5.0"),
       {{Field::kRelease, "1.5.0"},
        {Field::kPinned, "true"},
        {Field::kAllowDowngrade, "true"},
        {Field::kRolloutStart, At(T0())}}},
      {"pin keeps the pause",
       paused_2h_ago,
       Op(ChannelOpKind::kPin, "2.0.0"),
       {{Field::kPinned, "true"}}},
      {"rollback reaches every host and keeps the pause",
       paused_2h_ago,
       Op(ChannelOpKind::kRollback, "1.5.0"),
       {{Field::kRelease, "1.5.0"},
        {Field::kAllowDowngrade, "true"},
        {Field::kRolloutStart, "none"},
        {Field::kRolloutDuration, "none"},
        {Field::kRolloutLimit, "none"}}},
      {"rollout --start --duration keeps the limit",
       none,
       with_rollout(Op(ChannelOpKind::kRollout), {.start = T0(), .duration = hours(24)}),
       {{Field::kRolloutStart, At(T0())}, {Field::kRolloutDuration, "1d"}}},
      {"rollout --start --duration --limit",
       none,
       with_limit(with_rollout(Op(ChannelOpKind::kRollout), {.start = T0(), .duration = hours(24)}),
                  20),
       {{Field::kRolloutStart, At(T0())},
        {Field::kRolloutDuration, "1d"},
        {Field::kRolloutLimit, "20"}}},
      {"rollout --limit alone keeps the timing",
       none,
       with_limit(Op(ChannelOpKind::kRollout), 80),
       {{Field::kRolloutLimit, "80"}}},
      {"rollout --limit alone without a wave: a step starting now",
       [](Channel& c) { c.rollout.reset(); },
       with_limit(Op(ChannelOpKind::kRollout), 10),
       {{Field::kRolloutStart, At(T0())},
        {Field::kRolloutDuration, "0s"},
        {Field::kRolloutLimit, "10"}}},
      {"pause",
       none,
       Op(ChannelOpKind::kPause),
       {{Field::kPaused, "true"}, {Field::kPausedAt, At(T0())}}},
      {"pause again keeps when the pause began", paused_2h_ago, Op(ChannelOpKind::kPause), {}},
      {"resume moves the wave by the pause",
       paused_2h_ago,
       Op(ChannelOpKind::kResume),
       {{Field::kPaused, "false"},
        {Field::kPausedAt, "none"},
        {Field::kRolloutStart, At(T0() - hours(10))}}},
      {"resume before the wave started does not delay it",
       [](Channel& c) {
         c.paused = true;
         c.paused_at = T0() - hours(2);
         c.rollout->start = T0() + hours(1);
       },
       Op(ChannelOpKind::kResume),
       {{Field::kPaused, "false"}, {Field::kPausedAt, "none"}}},
      {"renew", none, Op(ChannelOpKind::kRenew), {}},
      {"renew keeps everything of a paused, pinned rollback",
       [](Channel& c) {
         c.paused = true;
         c.paused_at = T0() - hours(2);
         c.pinned = true;
         c.allow_downgrade = true;
       },
       Op(ChannelOpKind::kRenew),
       {}},
      {"floor set", none, Op(ChannelOpKind::kFloor, "1.5.0"), {{Field::kFloor, "1.5.0"}}},
      {"floor clear", none, Op(ChannelOpKind::kFloor), {{Field::kFloor, "none"}}},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    Channel before = Base();
    row.before(before);
    auto after = ApplyChannelOp(before, "stable", row.op, Published, now, kExpiresIn);
    ASSERT_TRUE(after.has_value()) << after.error().message();
    std::map<Field, std::string> expect = row.changes;
    expect[Field::kMetadataVersion] = std::to_string(before.metadata_version + 1);
    expect[Field::kExpires] = At(now + kExpiresIn);
    for (Field f : kAllFields) {
      auto it = expect.find(f);
      EXPECT_EQ(Get(*after, f), it != expect.end() ? it->second : Get(before, f))
          << FieldName(f) << (it != expect.end() ? " (changed)" : " (kept)");
    }
  }
}

TEST(ChannelOpsTable, RefusalsSayWhy) {
  const Channel base = Base();
  auto resume =
      ApplyChannelOp(base, "stable", Op(ChannelOpKind::kResume), Published, T0(), kExpiresIn);
  ASSERT_FALSE(resume.has_value());
  EXPECT_EQ(resume.error().kind(), ErrorKind::kPolicy);
  EXPECT_NE(resume.error().message().find("not paused"), std::string::npos);

  ChannelOp too_wide = Op(ChannelOpKind::kRollout);
  too_wide.limit_percent = 101;
  auto wide = ApplyChannelOp(base, "stable", too_wide, Published, T0(), kExpiresIn);
  ASSERT_FALSE(wide.has_value());
  EXPECT_EQ(wide.error().kind(), ErrorKind::kInvalidInput);

  auto nothing =
      ApplyChannelOp(base, "stable", Op(ChannelOpKind::kRollout), Published, T0(), kExpiresIn);
  ASSERT_FALSE(nothing.has_value());

  auto renew_missing = ApplyChannelOp(std::nullopt, "stable", Op(ChannelOpKind::kRenew), Published,
                                      T0(), kExpiresIn);
  ASSERT_FALSE(renew_missing.has_value());
  EXPECT_EQ(renew_missing.error().kind(), ErrorKind::kNotFound);
}

// The rollout guard's two call forms (halt, widen a step) work as they are written there.
TEST(ChannelOpsTable, RolloutGuardCallForms) {
  Channel base = Base();
  ChannelOp halt;
  halt.kind = ChannelOpKind::kPause;
  auto halted = ApplyChannelOp(base, "stable", halt, Published, T0(), kExpiresIn);
  ASSERT_TRUE(halted.has_value());
  EXPECT_TRUE(halted->paused);
  EXPECT_EQ(halted->rollout, base.rollout);

  ChannelOp widen;
  widen.kind = ChannelOpKind::kRollout;
  widen.limit_percent = 75;
  auto widened = ApplyChannelOp(base, "stable", widen, Published, T0(), kExpiresIn);
  ASSERT_TRUE(widened.has_value());
  ASSERT_TRUE(widened->rollout.has_value());
  EXPECT_EQ(widened->rollout->start, base.rollout->start);
  EXPECT_EQ(widened->rollout->duration, base.rollout->duration);
  EXPECT_EQ(widened->rollout->limit_percent, 75u);
}

struct Start {
  const char* name;
  std::function<void(Channel&)> tweak;
};

// A population of hosts decided through the real Decide before and after each operation.
class WaveSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ring_.Add(key_.public_key());
    for (auto [v, root] : {std::pair<const char*, char>{"1.0.0", 'a'},
                           {"1.5.0", 'c'},
                           {"2.0.0", 'b'},
                           {"3.0.0", 'd'}}) {
      Release r = MakeRelease(v, root);
      source_.releases[r.version] = Sign(kReleasePayloadType, SerializeRelease(r), key_);
    }
    for (int i = 0; i < 2000; ++i)
      ids_.push_back(fmt::format("{:032x}", static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL));
  }

  // Each host's (verdict, code, version) under `ch` at `now`, all hosts running 1.0.0.
  std::vector<Decision> DecideAll(const Channel& ch, TimePoint now) {
    source_.channels[ch.name] = Sign(kChannelPayloadType, SerializeChannel(ch), key_);
    std::vector<Decision> out;
    out.reserve(ids_.size());
    for (const std::string& id : ids_) {
      HostState h;
      h.current_version = "1.0.0";
      h.current_root_hash = Hex64('a');
      h.machine_id = id;
      h.now = now;
      auto d = Decide(ring_, 1, ch.name, source_, h);
      EXPECT_TRUE(d.has_value()) << d.error().message();
      out.push_back(d.value_or(Decision{}));
    }
    return out;
  }

  static std::set<size_t> Updating(const std::vector<Decision>& ds) {
    std::set<size_t> out;
    for (size_t i = 0; i < ds.size(); ++i)
      if (ds[i].verdict == Verdict::kUpdate) out.insert(i);
    return out;
  }

  PrivateKey key_ = NewKey();
  Keyring ring_;
  MapSource source_;
  std::vector<std::string> ids_;

  void CheckNoEarlyRelease(const Start& s);
};

// Rollouts at several positions: early, at 47% of a 48 h wave (the reported case), capped by a
// limit, paused, and pinned.
const Start kStarts[] = {
    {"10% in", [](Channel& c) { c.rollout->start = T0() - std::chrono::minutes(288); }},
    {"47% in", [](Channel& c) { c.rollout->start = T0() - std::chrono::minutes(1354); }},
    {"90% in, limit 30",
     [](Channel& c) {
       c.rollout->start = T0() - hours(43);
       c.rollout->limit_percent = 30;
     }},
    {"47% in, paused an hour ago",
     [](Channel& c) {
       c.rollout->start = T0() - std::chrono::minutes(1354);
       c.paused = true;
       c.paused_at = T0() - hours(1);
     }},
    {"47% in, pinned",
     [](Channel& c) {
       c.rollout->start = T0() - std::chrono::minutes(1354);
       c.pinned = true;
     }},
};

void WaveSafetyTest::CheckNoEarlyRelease(const Start& s) {
  const TimePoint now = T0();
  struct Operation {
    const char* name;
    ChannelOp op;
  };
  auto rollout_limit = [](uint32_t limit) {
    ChannelOp op = Op(ChannelOpKind::kRollout);
    op.limit_percent = limit;
    return op;
  };
  ChannelOp set_new_staged = Op(ChannelOpKind::kSet, "3.0.0");
  set_new_staged.rollout = Rollout{.start = now, .duration = hours(48)};
  set_new_staged.force = true;
  ChannelOp set_same_forced = Op(ChannelOpKind::kSet, "2.0.0");
  set_same_forced.force = true;
  // Every operation but the documented widenings: `rollout` with a wider wave or limit,
  // `rollback`, and `set` of a new release without a wave ("ship to everyone").
  const Operation ops[] = {
      {"set same release", Op(ChannelOpKind::kSet, "2.0.0")},
      {"set --force same release", set_same_forced},
      {"set new release in a wave from now", set_new_staged},
      {"pin same release", Op(ChannelOpKind::kPin, "2.0.0")},
      {"pin another release", Op(ChannelOpKind::kPin, "3.0.0")},
      {"pin an older release", Op(ChannelOpKind::kPin, "1.5.0")},
      {"rollout --limit narrower", rollout_limit(5)},
      {"pause", Op(ChannelOpKind::kPause)},
      {"resume", Op(ChannelOpKind::kResume)},
      {"renew", Op(ChannelOpKind::kRenew)},
      {"floor clear", Op(ChannelOpKind::kFloor)},
      {"floor set", Op(ChannelOpKind::kFloor, "1.5.0")},
  };
  {
    Channel before = MakeChannel("2.0.0");
    before.rollout = Rollout{.start = now, .duration = hours(48)};
    s.tweak(before);
    // Outside the wave: for a paused channel, where the pause froze it (those hosts wait as
    // "paused" now, and must still be outside once it resumes).
    Channel running = before;
    running.paused = false;
    running.paused_at.reset();
    const std::vector<Decision> was = DecideAll(running, before.paused ? *before.paused_at : now);
    size_t outside = 0;
    for (const Decision& d : was)
      outside += d.code == "outside-wave";
    for (const Operation& o : ops) {
      SCOPED_TRACE(fmt::format("{} / {}", s.name, o.name));
      auto after = ApplyChannelOp(before, "stable", o.op, Published, now, kExpiresIn);
      if (!after) {
        // Only the refusals the rules name (resume of a running channel).
        EXPECT_EQ(o.op.kind, ChannelOpKind::kResume) << after.error().message();
        continue;
      }
      const std::vector<Decision> is = DecideAll(*after, now);
      size_t released = 0;
      for (size_t i = 0; i < ids_.size(); ++i) {
        if (was[i].code != "outside-wave" || is[i].verdict != Verdict::kUpdate) continue;
        // A floor moves hosts below it to the floor at once, never to the channel's release
        // (docs/repository.md): the one way a waiting host may start an update here.
        if (o.op.kind == ChannelOpKind::kFloor && is[i].code == "floor" &&
            is[i].version == *after->floor) {
          continue;
        }
        ++released;
        ADD_FAILURE() << ids_[i] << ": " << was[i].code << " -> update " << is[i].version << " ("
                      << is[i].code << ")";
        if (released > 3) break;
      }
      EXPECT_EQ(released, 0u);
    }
    EXPECT_GT(outside, 0u) << s.name << ": the population should have hosts outside the wave";
  }
}

// One test per starting point, so each stays short under ctest.
TEST_F(WaveSafetyTest, NoOperationButAWideningLetsAHostInEarly10Percent) {
  CheckNoEarlyRelease(kStarts[0]);
}
TEST_F(WaveSafetyTest, NoOperationButAWideningLetsAHostInEarly47Percent) {
  CheckNoEarlyRelease(kStarts[1]);
}
TEST_F(WaveSafetyTest, NoOperationButAWideningLetsAHostInEarlyLimited) {
  CheckNoEarlyRelease(kStarts[2]);
}
TEST_F(WaveSafetyTest, NoOperationButAWideningLetsAHostInEarlyPaused) {
  CheckNoEarlyRelease(kStarts[3]);
}
TEST_F(WaveSafetyTest, NoOperationButAWideningLetsAHostInEarlyPinned) {
  CheckNoEarlyRelease(kStarts[4]);
}

TEST_F(WaveSafetyTest, PauseFreezesTheWaveAndResumeGoesOnFromThere) {
  Channel ch = MakeChannel("2.0.0");
  ch.expires = T0() + std::chrono::days(60);
  ch.rollout = Rollout{.start = T0() - hours(12), .duration = hours(48)};
  const TimePoint t1 = T0();
  const TimePoint t2 = T0() + hours(20);
  const std::set<size_t> at_pause = Updating(DecideAll(ch, t1));
  ASSERT_GT(at_pause.size(), ids_.size() / 8);
  ASSERT_LT(at_pause.size(), ids_.size() / 2);

  auto paused = ApplyChannelOp(ch, "stable", Op(ChannelOpKind::kPause), Published, t1, kExpiresIn);
  ASSERT_TRUE(paused.has_value());
  EXPECT_TRUE(Updating(DecideAll(*paused, t1 + hours(10))).empty()) << "paused: nobody starts";

  auto resumed =
      ApplyChannelOp(*paused, "stable", Op(ChannelOpKind::kResume), Published, t2, kExpiresIn);
  ASSERT_TRUE(resumed.has_value());
  // At resume, exactly the hosts that were inside the wave at pause are inside it.
  EXPECT_EQ(Updating(DecideAll(*resumed, t2)), at_pause);
  // Then the wave advances with time only, as if the pause had not happened.
  const std::set<size_t> later = Updating(DecideAll(*resumed, t2 + hours(6)));
  EXPECT_EQ(later, Updating(DecideAll(ch, t1 + hours(6))));
  EXPECT_TRUE(std::includes(later.begin(), later.end(), at_pause.begin(), at_pause.end()));
  EXPECT_GT(later.size(), at_pause.size());
}

}  // namespace
}  // namespace basalt::repo
