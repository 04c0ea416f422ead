// RootDir: every way a tree can point out of itself, once with openat2 and once with the
// component walk used on kernels without it. Each case has a canary next to the tree that must
// come through untouched and unread.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/fd.h"
#include "common/printable.h"
#include "common/root_dir.h"
#include "test_util.h"

namespace basalt {
namespace {

namespace fs = std::filesystem;
using basalt::testing::TempDir;

constexpr std::string_view kCanary = "canary bytes that must never be read through the tree";

class RootDirTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    tree_ = dir_ / "tree";
    canary_dir_ = dir_ / "canary";
    fs::create_directories(tree_ + "/usr/lib");
    fs::create_directories(canary_dir_);
    Write(canary_dir_ + "/secret", kCanary);
    Write(tree_ + "/usr/lib/libc.so", "tree libc");
  }

  static void Write(const std::string& path, std::string_view data) {
    auto fd = OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_TRUE(fd) << fd.error().message();
    ASSERT_TRUE(
        WriteFull(fd->get(), {reinterpret_cast<const uint8_t*>(data.data()), data.size()}, path));
  }

  RootDir Root() {
    auto r = RootDir::Open(tree_, "rootfs " + tree_);
    EXPECT_TRUE(r) << r.error().message();
    if (GetParam()) r->ForceWalkForTesting();
    return std::move(*r);
  }

  void ExpectCanaryIntact() {
    EXPECT_EQ(*ReadFileToString(canary_dir_ + "/secret"), kCanary);
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(canary_dir_))
      names.push_back(e.path().filename().string());
    EXPECT_EQ(names, std::vector<std::string>{"secret"});
  }

  TempDir dir_;
  std::string tree_, canary_dir_;
};

TEST_P(RootDirTest, LinksInsideTheTreeResolveAsOnTheBootedHost) {
  fs::create_symlink("usr/lib", tree_ + "/lib");
  fs::create_symlink("/usr/lib/libc.so", tree_ + "/usr/lib/abs-alias");
  fs::create_symlink("../lib/libc.so", tree_ + "/usr/lib/rel-alias");
  RootDir root = Root();
  for (const char* p :
       {"lib/libc.so", "/usr/lib/abs-alias", "lib/rel-alias", "usr/./lib/libc.so"}) {
    auto text = root.ReadFile(p, 1 << 20);
    ASSERT_TRUE(text) << p << ": " << text.error().message();
    EXPECT_EQ(*text, "tree libc") << p;
  }
  auto names = root.List("lib");
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::vector<std::string>{"abs-alias", "libc.so", "rel-alias"}));
}

TEST_P(RootDirTest, AbsoluteAndRelativeEscapesStayInsideTheRoot) {
  fs::create_symlink(canary_dir_, tree_ + "/abs");
  fs::create_symlink("../../../../../../../../" + canary_dir_, tree_ + "/usr/rel");
  fs::create_symlink(canary_dir_ + "/secret", tree_ + "/usr/lib/file-link");
  RootDir root = Root();
  for (const char* p : {"abs/secret", "usr/rel/secret", "usr/lib/file-link", "../canary/secret",
                        "usr/../../canary/secret"}) {
    auto text = root.ReadFile(p, 1 << 20);
    ASSERT_FALSE(text) << p << " read: " << *text;
    EXPECT_EQ(text.error().kind(), ErrorKind::kNotFound) << p << ": " << text.error().message();
    auto st = root.Stat(p);
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_FALSE(st->has_value()) << p;
  }
  // The same name re-rooted is the tree's own file, as on the booted host.
  fs::create_directories(tree_ + canary_dir_);
  Write(tree_ + canary_dir_ + "/secret", "the tree's own");
  EXPECT_EQ(*root.ReadFile("abs/secret", 100), "the tree's own");
  EXPECT_EQ(*root.ReadFile("usr/lib/file-link", 100), "the tree's own");
  ExpectCanaryIntact();
}

TEST_P(RootDirTest, NeverRefusesEveryLinkOnTheWay) {
  fs::create_symlink("usr/lib", tree_ + "/lib");
  fs::create_symlink("libc.so", tree_ + "/usr/lib/alias");
  RootDir root = Root();
  auto through_parent = root.ReadFile("lib/libc.so", 100, Follow::kNever);
  ASSERT_FALSE(through_parent);
  EXPECT_EQ(through_parent.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(through_parent.error().message().find("a symlink is in the way"), std::string::npos)
      << through_parent.error().message();
  EXPECT_FALSE(root.ReadFile("usr/lib/alias", 100, Follow::kNever));
  auto dotdot = root.Stat("usr/../usr/lib", Follow::kNever);
  ASSERT_FALSE(dotdot);
  EXPECT_NE(dotdot.error().message().find("'..' is not allowed"), std::string::npos);
  // lstat semantics for the last component.
  auto st = root.Stat("usr/lib/alias", Follow::kNever);
  ASSERT_TRUE(st) << st.error().message();
  ASSERT_TRUE(st->has_value());
  EXPECT_TRUE(S_ISLNK((*st)->st_mode));
  EXPECT_EQ(*root.ReadLink("usr/lib/alias"), std::optional<std::string>("libc.so"));
  EXPECT_EQ(*root.ReadLink("usr/lib/libc.so"), std::optional<std::string>());
}

TEST_P(RootDirTest, LoopsEndWithAClearError) {
  fs::create_symlink("b", tree_ + "/a");
  fs::create_symlink("a", tree_ + "/b");
  fs::create_symlink("self/x", tree_ + "/self");
  RootDir root = Root();
  for (const char* p : {"a", "self/y"}) {
    auto text = root.ReadFile(p, 100);
    ASSERT_FALSE(text);
    EXPECT_EQ(text.error().kind(), ErrorKind::kInvalidInput) << text.error().message();
    EXPECT_NE(text.error().message().find("too many levels of symlinks"), std::string::npos)
        << text.error().message();
  }
}

TEST_P(RootDirTest, ReadsOnlyRegularFilesAndWithinTheLimit) {
  ASSERT_EQ(mkfifo((tree_ + "/fifo").c_str(), 0644), 0);
  fs::create_symlink("fifo", tree_ + "/to-fifo");
  RootDir root = Root();
  // Would block forever if it were opened for reading.
  for (const char* p : {"fifo", "to-fifo", "usr"}) {
    auto text = root.ReadFile(p, 100);
    ASSERT_FALSE(text) << p;
    EXPECT_NE(text.error().message().find("not a regular file"), std::string::npos)
        << text.error().message();
  }
  auto big = root.ReadFile("usr/lib/libc.so", 3);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message().find("more than the 3 allowed"), std::string::npos)
      << big.error().message();
}

TEST_P(RootDirTest, WritesNeverGoThroughALink) {
  fs::create_directories(tree_ + "/usr/lib/modules");
  fs::create_symlink(canary_dir_, tree_ + "/usr/lib/modules/6.1.0");
  fs::create_symlink(canary_dir_ + "/secret", tree_ + "/usr/lib/vmlinuz");
  RootDir root = Root();
  auto dirs = root.MakeDirs("usr/lib/modules/6.1.0/kernel", 0755);
  ASSERT_FALSE(dirs);
  EXPECT_EQ(dirs.error().message(),
            "rootfs " + tree_ +
                ": usr/lib/modules/6.1.0: is a symlink; the build never writes "
                "through it");
  auto file = root.CreateFile("usr/lib/modules/6.1.0/vmlinuz", 0644);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().kind(), ErrorKind::kInvalidInput) << file.error().message();
  auto over = root.CreateFile("usr/lib/vmlinuz", 0644);
  ASSERT_FALSE(over);
  EXPECT_NE(over.error().message().find("already exists"), std::string::npos);
  auto replace = root.ReplaceFile("usr/lib/modules/6.1.0/initrd.img", "attacker", 0644);
  ASSERT_FALSE(replace);
  // Replacing a link replaces the link, never its target.
  ASSERT_TRUE(root.ReplaceFile("usr/lib/vmlinuz", "kernel", 0644));
  EXPECT_EQ(*ReadFileToString(tree_ + "/usr/lib/vmlinuz"), "kernel");
  ExpectCanaryIntact();
}

TEST_P(RootDirTest, MakeDirsAndCreateFileSetExactModes) {
  RootDir root = Root();
  mode_t old = umask(077);
  ASSERT_TRUE(root.MakeDirs("usr/lib/modules/6.1.0", 0755));
  auto fd = root.CreateFile("usr/lib/modules/6.1.0/vmlinuz", 0644);
  umask(old);
  ASSERT_TRUE(fd) << fd.error().message();
  struct stat st;
  ASSERT_EQ(stat((tree_ + "/usr/lib/modules/6.1.0").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(stat((tree_ + "/usr/lib/modules/6.1.0/vmlinuz").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  // An existing directory keeps its mode: it came from the input.
  ASSERT_EQ(chmod((tree_ + "/usr").c_str(), 0750), 0);
  ASSERT_TRUE(root.MakeDirs("usr/share", 0755));
  ASSERT_EQ(stat((tree_ + "/usr").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

TEST_P(RootDirTest, ReplaceFileMakesANewInode) {
  ASSERT_EQ(link((tree_ + "/usr/lib/libc.so").c_str(), (dir_ / "input-file").c_str()), 0);
  RootDir root = Root();
  ASSERT_TRUE(root.ReplaceFile("usr/lib/libc.so", "new", 0600));
  EXPECT_EQ(*ReadFileToString(tree_ + "/usr/lib/libc.so"), "new");
  EXPECT_EQ(*ReadFileToString(dir_ / "input-file"), "tree libc");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tree_ + "/usr/lib"))
    names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"libc.so"});
}

TEST_P(RootDirTest, RemoveTreeRemovesLinksNotTheirTargets) {
  fs::create_directories(tree_ + "/usr/x/y");
  fs::create_symlink(canary_dir_, tree_ + "/usr/x/y/dir-link");
  fs::create_symlink(canary_dir_ + "/secret", tree_ + "/usr/x/file-link");
  fs::create_symlink(canary_dir_, tree_ + "/usr/escape");
  RootDir root = Root();
  auto through = root.RemoveTree("usr/escape/secret");
  ASSERT_FALSE(through);
  EXPECT_EQ(through.error().kind(), ErrorKind::kInvalidInput) << through.error().message();
  ASSERT_TRUE(root.RemoveTree("usr/escape"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(tree_ + "/usr/escape")));
  ASSERT_TRUE(root.RemoveTree("usr/x"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(tree_ + "/usr/x")));
  EXPECT_TRUE(root.RemoveTree("usr/never-was"));
  for (const char* bad : {"usr/..", "..", ".", "", "/"}) {
    auto s = root.RemoveTree(bad);
    EXPECT_FALSE(s) << "'" << bad << "' was accepted";
  }
  EXPECT_TRUE(fs::exists(tree_ + "/usr/lib/libc.so"));
  ExpectCanaryIntact();
}

INSTANTIATE_TEST_SUITE_P(Resolution, RootDirTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Walk" : "Openat2"; });

TEST(CleanRelativePathTest, AcceptsOnlyRelativePathsThatStayBelow) {
  EXPECT_EQ(*CleanRelativePath("./kernel//drivers/./md/dm-mod.ko", "modules.dep"),
            "kernel/drivers/md/dm-mod.ko");
  EXPECT_EQ(*CleanRelativePath("./", "tar"), ".");
  struct Bad {
    std::string path;
    std::string rule;
  } bad[] = {
      {"", "empty path"},
      {"/etc/shadow", "is absolute"},
      {"../../host/dm-mod.ko", "climbs out with '..'"},
      {"kernel/../../x", "climbs out with '..'"},
      {std::string("a\0b", 3), "holds a NUL byte"},
  };
  for (const Bad& b : bad) {
    auto r = CleanRelativePath(b.path, "modules.dep line 3");
    ASSERT_FALSE(r) << Printable(b.path);
    EXPECT_NE(r.error().message().find(b.rule), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().rfind("modules.dep line 3: ", 0), 0u) << r.error().message();
  }
}

TEST(CheckPlainNameTest, RefusesEverythingButOneName) {
  EXPECT_TRUE(CheckPlainName("libc.so.6", "DT_NEEDED"));
  for (std::string_view n : {"", ".", "..", "a/b", "../x"}) {
    EXPECT_FALSE(CheckPlainName(n, "DT_NEEDED")) << n;
  }
  EXPECT_FALSE(CheckPlainName(std::string_view("a\0b", 3), "DT_NEEDED"));
}

TEST(PrintableTest, EscapesWhatCouldBreakTheLine) {
  EXPECT_EQ(Printable("usr/bin/ls"), "usr/bin/ls");
  EXPECT_EQ(Printable("a\nb\tc\\d"), "a\\x0ab\\x09c\\x5cd");
  EXPECT_EQ(Printable("caf\xc3\xa9"), "caf\xc3\xa9");       // valid UTF-8 stays
  EXPECT_EQ(Printable("x\xc3"), "x\\xc3");                  // cut sequence
  EXPECT_EQ(Printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(Printable("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  std::string long_name(5000, 'a');
  std::string shown = Printable(long_name, 64);
  EXPECT_EQ(shown, std::string(32, 'a') + "...(4936 bytes)..." + std::string(32, 'a'));
}

}  // namespace
}  // namespace basalt
