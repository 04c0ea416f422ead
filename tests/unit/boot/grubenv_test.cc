#include "backends/grub/grubenv.h"

#include <gtest/gtest.h>

#include "backends/grub/grub_layout.h"

namespace basalt::boot {
namespace {

TEST(GrubEnv, RoundTrip) {
  GrubEnv env = {{"basalt_A_priority", "1"}, {"saved_entry", "x y"}};
  auto block = SerializeGrubEnv(env);
  ASSERT_TRUE(block);
  ASSERT_EQ(block->size(), 1024u);
  EXPECT_TRUE(
      block->starts_with("# GRUB Environment Block\nbasalt_A_priority=1\nsaved_entry=x y\n#"));
  EXPECT_EQ(block->back(), '#');
  auto parsed = ParseGrubEnv(*block);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, env);
}

std::string Block(std::string body) {
  std::string s = std::string(kGrubEnvHeader) + body;
  s.resize(kGrubEnvSize, '#');
  return s;
}

void ExpectRejected(const std::string& block, std::string_view why) {
  auto r = ParseGrubEnv(block);
  ASSERT_FALSE(r) << "accepted: " << why;
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(r.error().message().find(why), std::string::npos) << r.error().message();
}

TEST(GrubEnv, RejectsMalformed) {
  ExpectRejected(std::string(1023, '#'), "1023 bytes");
  ExpectRejected(std::string(1024, '#'), "header");
  ExpectRejected(Block("novalue\n"), "no '='");
  ExpectRejected(Block("=x\n"), "invalid variable name");
  ExpectRejected(Block("a-b=x\n"), "invalid variable name");
  ExpectRejected(Block("a=1\na=2\n"), "set twice");
  std::string unterminated = std::string(kGrubEnvHeader) + std::string(1024 - 25, 'x');
  ExpectRejected(unterminated, "no newline");
  std::string junk = Block("a=1\n");
  junk[1000] = 'z';
  ExpectRejected(junk, "padding");
}

TEST(GrubEnv, SerializeRejectsWhatGrubCannotHold) {
  EXPECT_FALSE(SerializeGrubEnv({{"a", "x\ny"}}));
  EXPECT_FALSE(SerializeGrubEnv({{"a b", "x"}}));
  EXPECT_FALSE(SerializeGrubEnv({{"a", std::string(1000, 'v')}}));
}

TEST(GrubEnv, SlotTableMapping) {
  GrubEnv env = {{"other", "kept"}};
  SlotTable t = {SlotAttributes{1, 0, true}, SlotAttributes{2, 3, false}};
  StoreTableInGrubEnv(t, env);
  EXPECT_EQ(env["basalt_B_tries"], "3");
  EXPECT_EQ(env["basalt_A_ok"], "1");
  EXPECT_EQ(env["other"], "kept");
  auto back = LoadTableFromGrubEnv(env);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, t);
  env["basalt_B_tries"] = "16";
  auto bad = LoadTableFromGrubEnv(env);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("basalt_B_tries='16'"), std::string::npos);
  EXPECT_EQ(*LoadTableFromGrubEnv({}), SlotTable{});
}

TEST(GrubCfg, CountsDownWithoutArithmetic) {
  std::string cfg = RenderGrubCfg();
  EXPECT_NE(cfg.find("load_env --file \"${basalt_env}\" basalt_A_priority"), std::string::npos);
  EXPECT_NE(cfg.find("if [ \"${basalt_B_tries}\" = \"15\" ]; then set basalt_B_tries=14"),
            std::string::npos);
  EXPECT_NE(cfg.find("elif [ \"${basalt_A_tries}\" = \"1\" ]; then set basalt_A_tries=0"),
            std::string::npos);
  EXPECT_NE(cfg.find("save_env --file \"${basalt_env}\" basalt_A_tries"), std::string::npos);
  EXPECT_NE(cfg.find("/basalt/grubenv.old"), std::string::npos);
  EXPECT_EQ(cfg.find("expr"), std::string::npos);
}

}  // namespace
}  // namespace basalt::boot
