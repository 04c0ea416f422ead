#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/mapped_file.h"
#include "test_util.h"

namespace basalt {
namespace {

using basalt::testing::TempDir;

TEST(AtomicFileTest, ReplacesContentAndLeavesNoTempFiles) {
  TempDir dir;
  std::string p = dir / "state.json";
  ASSERT_TRUE(WriteFileAtomic(p, std::string_view("first"), 0600));
  ASSERT_TRUE(WriteFileAtomic(p, std::string_view("second"), 0600));
  EXPECT_EQ(*ReadFileToString(p), "second");
  struct stat st;
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(AtomicFileTest, MissingDirectoryIsAClearError) {
  auto s = WriteFileAtomic("/nonexistent-basalt-dir/x", std::string_view("x"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("/nonexistent-basalt-dir/x"), std::string::npos);
}

TEST(FdTest, ShortReadReportsOffsets) {
  TempDir dir;
  std::string p = dir / "short";
  ASSERT_TRUE(WriteFileAtomic(p, std::string_view("12345")));
  auto fd = OpenFile(p, O_RDONLY);
  ASSERT_TRUE(fd);
  std::vector<uint8_t> buf(10);
  auto s = PreadFull(fd->get(), buf, 2, "short");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(s.error().message().find("offset 5"), std::string::npos) << s.error().message();
  EXPECT_EQ(*FileOrDeviceSize(fd->get(), p), 5u);
}

TEST(FdTest, UniqueFdClosesOnDestructionAndMove) {
  TempDir dir;
  std::string p = dir / "f";
  ASSERT_TRUE(WriteFileAtomic(p, std::string_view("x")));
  int raw;
  {
    auto fd = OpenFile(p, O_RDONLY);
    ASSERT_TRUE(fd);
    UniqueFd moved = std::move(*fd);
    raw = moved.get();
    EXPECT_FALSE(fd->valid());
    EXPECT_EQ(::fcntl(raw, F_GETFD), FD_CLOEXEC);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
}

TEST(MappedFileTest, MapsUnalignedRanges) {
  TempDir dir;
  std::string p = dir / "m";
  std::string data(10000, 'a');
  data[5000] = 'z';
  ASSERT_TRUE(WriteFileAtomic(p, data));
  auto fd = OpenFile(p, O_RDONLY);
  auto m = MappedFile::Map(fd->get(), 4999, 3, p);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ(m->bytes()[1], 'z');
}

}  // namespace
}  // namespace basalt
