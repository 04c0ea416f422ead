// The erofs reader against images made by the real mkfs.erofs from a test tree: every path,
// type, mode, size, symlink target, hard link and byte of content must match the input tree,
// for each data layout mkfs.erofs can produce (inline tails, plain, extended inodes, chunked).
#include "erofs/erofs_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/fd.h"
#include "gtest/gtest.h"

namespace basalt::erofs {
namespace {

namespace fs = std::filesystem;

bool HaveMkfsErofs() {
  return system("command -v mkfs.erofs >/dev/null 2>&1") == 0;
}

std::string Pseudo(size_t n, uint32_t seed, bool compressible = false) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = compressible ? static_cast<char>('a' + (i / 7 + seed) % 5)
                        : static_cast<char>(rng() & 0xFF);
  }
  return s;
}

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

class ErofsImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveMkfsErofs()) GTEST_SKIP() << "mkfs.erofs (erofs-utils) is not installed";
    char tmpl[] = "/tmp/erofs-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    tree_ = dir_ / "tree";
    MakeTree();
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  void MakeTree() {
    const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 8192, 3 * 4096 + 100, 65536 + 7, 1 << 20};
    int i = 0;
    for (size_t n : sizes) {
      WriteFile(tree_ / "files" / ("f" + std::to_string(n)), Pseudo(n, 100 + i++));
    }
    WriteFile(tree_ / "lib/modules/6.1.0-56-cloud-amd64/vmlinuz", Pseudo(300000, 7));
    WriteFile(tree_ / "lib/modules/6.1.0-56-cloud-amd64/initrd.img", Pseudo(123457, 8));
    WriteFile(tree_ / "share/text/compressible", Pseudo(200000, 9, true));
    // A directory of several blocks (long names, many entries).
    for (int j = 0; j < 400; ++j) {
      WriteFile(tree_ / "big" / fmt::format("entry-{:04}-{}", j, std::string(40, 'x')),
                std::to_string(j));
    }
    fs::create_directories(tree_ / "empty-dir");
    fs::create_symlink("../files/f100", tree_ / "share/link-short");
    std::string long_target;
    while (long_target.size() < 3000)
      long_target += std::string(99, 'L') + "/";
    fs::create_symlink(long_target, tree_ / "share/link-long");
    fs::create_hard_link(tree_ / "files/f4097", tree_ / "share/hardlink");
    ASSERT_EQ(mkfifo((tree_ / "share/fifo").c_str(), 0640), 0);
    ASSERT_EQ(mknod((tree_ / "share/null").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
    chmod((tree_ / "files/f1").c_str(), 04755);
  }

  fs::path Build(const std::string& name, const std::vector<std::string>& opts) {
    fs::path img = dir_ / (name + ".img");
    std::string cmd = "mkfs.erofs --quiet -T0 -U00000000-0000-0000-0000-000000000001";
    for (const auto& o : opts)
      cmd += " " + o;
    cmd += " " + img.string() + " " + tree_.string() + " >/dev/null 2>&1";
    EXPECT_EQ(system(cmd.c_str()), 0) << cmd;
    return img;
  }

  struct Listing {
    std::map<std::string, ErofsInode> files;
  };

  // Compares the image with the input tree; returns the layouts seen.
  std::set<DataLayout> CheckAgainstTree(const fs::path& img) {
    UniqueFd fd(open(img.c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(fd.valid());
    const uint64_t size = fs::file_size(img);
    auto image = ErofsImage::Open(fd.get(), 0, size);
    EXPECT_TRUE(image) << image.error().message();
    if (!image) return {};
    std::map<std::string, ErofsInode> listing;
    auto st = image->ForEachFile([&](const ErofsFile& f) -> Status {
      EXPECT_TRUE(listing.emplace(f.path, f.inode).second) << "listed twice: " << f.path;
      return {};
    });
    EXPECT_TRUE(st) << st.error().message();

    std::set<std::string> expected = {"/"};
    for (const auto& e : fs::recursive_directory_iterator(tree_)) {
      expected.insert("/" + e.path().lexically_relative(tree_).string());
    }
    std::set<std::string> got;
    for (const auto& [p, ino] : listing)
      got.insert(p);
    for (const auto& p : expected)
      EXPECT_TRUE(got.contains(p)) << "missing from the image listing: " << p;
    for (const auto& p : got)
      EXPECT_TRUE(expected.contains(p)) << "not in the tree: " << p;

    std::set<DataLayout> layouts;
    std::map<uint64_t, uint64_t> block_owner;  // block -> nid
    for (const auto& [p, ino] : listing) {
      struct stat sb;
      const fs::path host = p == "/" ? tree_ : tree_ / p.substr(1);
      EXPECT_EQ(lstat(host.c_str(), &sb), 0) << p;
      EXPECT_EQ(ino.mode & S_IFMT, sb.st_mode & S_IFMT) << p;
      if (!S_ISLNK(sb.st_mode)) {
        EXPECT_EQ(ino.mode & 07777, sb.st_mode & 07777) << p;
      }
      EXPECT_EQ(ino.uid, sb.st_uid) << p;
      if (S_ISREG(sb.st_mode)) layouts.insert(ino.layout);
      for (const BlockExtent& e : ino.extents) {
        EXPECT_LE(e.start_block + e.num_blocks, image->superblock().blocks) << p;
        for (uint64_t b = e.start_block; b < e.start_block + e.num_blocks; ++b) {
          auto [it, fresh] = block_owner.emplace(b, ino.nid);
          EXPECT_TRUE(fresh || it->second == ino.nid) << p << " shares block " << b;
        }
      }
      if (S_ISREG(sb.st_mode)) {
        EXPECT_EQ(ino.size, static_cast<uint64_t>(sb.st_size)) << p;
        std::ifstream in(host, std::ios::binary);
        std::string want((std::istreambuf_iterator<char>(in)), {});
        if (ino.compressed) {
          auto r = image->ReadFile(p, 1 << 30);
          EXPECT_FALSE(r) << p;
          if (!r) {
            EXPECT_EQ(r.error().kind(), ErrorKind::kUnsupported);
          }
          continue;
        }
        auto data = image->ReadFile(p, 1 << 30);
        EXPECT_TRUE(data) << p << ": " << data.error().message();
        if (data) {
          EXPECT_TRUE(*data == want) << p << " content differs";
        }
        // Independently of ReadFile: the extents plus inline tail give the content.
        std::string manual(ino.size, '\0');
        for (const BlockExtent& e : ino.extents) {
          for (uint64_t k = 0; k < e.num_blocks; ++k) {
            uint64_t off = (e.file_block + k) * kBlockSize;
            if (off >= ino.size - ino.inline_size) break;
            size_t n = std::min<uint64_t>(kBlockSize, ino.size - ino.inline_size - off);
            EXPECT_EQ(pread(fd.get(), manual.data() + off, n,
                            static_cast<off_t>((e.start_block + k) * kBlockSize)),
                      static_cast<ssize_t>(n));
          }
        }
        if (ino.inline_size) {
          EXPECT_EQ(pread(fd.get(), manual.data() + ino.size - ino.inline_size, ino.inline_size,
                          static_cast<off_t>(ino.inline_offset)),
                    static_cast<ssize_t>(ino.inline_size));
        }
        EXPECT_TRUE(manual == want) << p << " extents do not give the content";
      } else if (S_ISLNK(sb.st_mode)) {
        auto target = image->ReadLink(p);
        EXPECT_TRUE(target) << p;
        if (target) {
          EXPECT_EQ(*target, fs::read_symlink(host).string()) << p;
        }
      }
    }
    EXPECT_EQ(listing["/files/f4097"].nid, listing["/share/hardlink"].nid);
    EXPECT_EQ(listing["/files/f4097"].nlink, 2u);
    return layouts;
  }

  fs::path dir_, tree_;
};

TEST_F(ErofsImageTest, DefaultLayoutMatchesTree) {
  auto layouts = CheckAgainstTree(Build("default", {}));
  EXPECT_TRUE(layouts.contains(DataLayout::kFlatInline));
}

TEST_F(ErofsImageTest, NoInlineDataMatchesTree) {
  auto layouts = CheckAgainstTree(Build("plain", {"-Enoinline_data"}));
  EXPECT_TRUE(layouts.contains(DataLayout::kFlatPlain));
  EXPECT_FALSE(layouts.contains(DataLayout::kFlatInline));
}

TEST_F(ErofsImageTest, ExtendedInodesMatchTree) {
  CheckAgainstTree(Build("extended", {"-Eforce-inode-extended"}));
}

TEST_F(ErofsImageTest, ChunkedFilesMatchTree) {
  auto layouts = CheckAgainstTree(Build("chunked", {"--chunksize=8192"}));
  EXPECT_TRUE(layouts.contains(DataLayout::kChunkBased));
  auto layouts64 = CheckAgainstTree(Build("chunked64", {"--chunksize=65536"}));
  EXPECT_TRUE(layouts64.contains(DataLayout::kChunkBased));
}

TEST_F(ErofsImageTest, CompressedFilesAreDetectedNotRead) {
  fs::path img = Build("lz4hc", {"-zlz4hc"});
  UniqueFd fd(open(img.c_str(), O_RDONLY | O_CLOEXEC));
  auto image = ErofsImage::Open(fd.get(), 0, fs::file_size(img));
  ASSERT_TRUE(image) << image.error().message();
  auto ino = image->Lookup("/share/text/compressible");
  ASSERT_TRUE(ino) << ino.error().message();
  EXPECT_TRUE(ino->compressed);
  EXPECT_TRUE(ino->extents.empty());
  auto data = image->ReadFile("/share/text/compressible", 1 << 30);
  ASSERT_FALSE(data);
  EXPECT_EQ(data.error().kind(), ErrorKind::kUnsupported);
  EXPECT_NE(data.error().message().find("compressed"), std::string::npos);
  // Random data does not compress, so mkfs.erofs stores it plain and it stays readable.
  CheckAgainstTree(img);
}

TEST_F(ErofsImageTest, LookupAndReadAtAnOffset) {
  fs::path img = Build("default", {});
  std::ifstream in(img, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  fs::path slot = dir_ / "slot";
  WriteFile(slot, std::string(1 << 20, 'S') + bytes + std::string(12345, 'T'));
  UniqueFd fd(open(slot.c_str(), O_RDONLY | O_CLOEXEC));
  auto image = ErofsImage::Open(fd.get(), 1 << 20, bytes.size());
  ASSERT_TRUE(image) << image.error().message();
  fd.Reset();  // the image keeps its own descriptor

  auto k = image->ReadFile("lib/modules/6.1.0-56-cloud-amd64/vmlinuz", 64 << 20);
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_TRUE(*k == Pseudo(300000, 7));
  auto i = image->ReadFile("/lib/modules/6.1.0-56-cloud-amd64/./initrd.img", 64 << 20);
  ASSERT_TRUE(i) << i.error().message();
  EXPECT_TRUE(*i == Pseudo(123457, 8));

  auto missing = image->Lookup("/lib/modules/6.1.0-50-cloud-amd64/vmlinuz");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);
  EXPECT_NE(missing.error().message().find("/lib/modules/6.1.0-50-cloud-amd64"), std::string::npos);
  auto too_big = image->ReadFile("/lib/modules/6.1.0-56-cloud-amd64/vmlinuz", 1000);
  ASSERT_FALSE(too_big);
  EXPECT_NE(too_big.error().message().find("more than the 1000 allowed"), std::string::npos);
  EXPECT_FALSE(image->ReadFile("/lib", 1 << 20));
  EXPECT_FALSE(image->Lookup("/share/link-short/x"));
  EXPECT_FALSE(image->Lookup("/files/f100/x"));
  auto link = image->ReadLink("/share/link-short");
  ASSERT_TRUE(link);
  EXPECT_EQ(*link, "../files/f100");
  auto root = image->Lookup("/");
  ASSERT_TRUE(root);
  EXPECT_TRUE(root->IsDirectory());
}

TEST_F(ErofsImageTest, MalformedImagesAreRefused) {
  fs::path img = Build("default", {});
  std::ifstream in(img, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  auto open_bytes = [&](const std::string& b) {
    fs::path p = dir_ / "bad.img";
    WriteFile(p, b);
    UniqueFd fd(open(p.c_str(), O_RDONLY | O_CLOEXEC));
    return ErofsImage::Open(fd.get(), 0, b.size());
  };
  std::string bad = bytes;
  bad[1024] ^= 1;
  auto r = open_bytes(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("magic"), std::string::npos);

  r = open_bytes(bytes.substr(0, bytes.size() - 4096));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("blocks"), std::string::npos);

  r = open_bytes(bytes.substr(0, 600));
  ASSERT_FALSE(r);

  bad = bytes;
  bad[1024 + 12] = 13;  // 8 KiB blocks
  r = open_bytes(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::kUnsupported);
}

}  // namespace
}  // namespace basalt::erofs
