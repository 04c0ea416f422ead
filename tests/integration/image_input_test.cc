// Tarball and OCI inputs, and the unprivileged build: each must produce the image a root build
// of the same tree produces, byte for byte (owners, modes, capabilities, devices included).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/hash.h"
#include "common/hex.h"
#include "integration/image_test_util.h"

namespace basalt::image::testing {
namespace {

const std::string kCommon = " --seed s --source-date-epoch 1600000000 ";

std::string Sha(const std::string& path) {
  auto d = Sha256File(path);
  return d ? ToHex(*d) : "missing:" + path;
}

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

class ImageInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    MakeTestTree(dir_->path() + "/tree");
    auto r = Sh(BasaltBin() + " image build --rootfs " + dir_->path() + "/tree --output " +
                dir_->path() + "/ref " + SmallSizes() + kCommon);
    ref_ok_ = r.status == 0;
    ref_output_ = r.output;
    tar_ = Sh("tar --xattrs --xattrs-include='*' --numeric-owner -C " + dir_->path() +
              "/tree -cpf " + dir_->path() + "/rootfs.tar .");
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override {
    ASSERT_TRUE(ref_ok_) << ref_output_;
    ASSERT_EQ(tar_.status, 0) << tar_.output;
  }

  static TempDir* dir_;
  static bool ref_ok_;
  static std::string ref_output_;
  static CommandResult tar_;
};
TempDir* ImageInputTest::dir_ = nullptr;
bool ImageInputTest::ref_ok_ = false;
std::string ImageInputTest::ref_output_;
CommandResult ImageInputTest::tar_;

TEST_F(ImageInputTest, EveryTarballCompressionGivesTheDirectoryBuild) {
  const std::string d = dir_->path();
  ASSERT_EQ(Sh("gzip -k -c " + d + "/rootfs.tar > " + d + "/rootfs.tar.gz && xz -k -c -T1 " + d +
               "/rootfs.tar > " + d + "/rootfs.tar.xz && zstd -q -c " + d + "/rootfs.tar > " + d +
               "/rootfs.tar.zst")
                .status,
            0);
  for (const char* ext : {".tar", ".tar.gz", ".tar.xz", ".tar.zst"}) {
    std::string out = d + "/out" + ext;
    auto r = Sh(BasaltBin() + " image build --rootfs " + d + "/rootfs" + ext + " --output " + out +
                " " + SmallSizes() + kCommon);
    ASSERT_EQ(r.status, 0) << ext << "\n" << r.output;
    EXPECT_EQ(Sha(out + "/usr.img"), Sha(d + "/ref/usr.img")) << ext;
    EXPECT_EQ(Sha(out + "/disk.img"), Sha(d + "/ref/disk.img")) << ext;
    auto j = ReadJson(out + "/image.json");
    EXPECT_EQ(j["input_kind"], "tarball");
    EXPECT_EQ(j["input_digest"], "sha256:" + Sha(d + "/rootfs" + ext));
  }
}

TEST_F(ImageInputTest, NonRootBuildKeepsOwnersFromTheArchive) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  if (!HaveTool("setpriv")) GTEST_SKIP() << "setpriv (util-linux) not installed";
  if (!HaveTool("fakeroot")) GTEST_SKIP() << "fakeroot not installed";
  const std::string nr = dir_->path() + "/nobody";
  std::filesystem::create_directories(nr);
  ASSERT_EQ(chown(nr.c_str(), 65534, 65534), 0);
  ASSERT_EQ(Sh("cp " + dir_->path() + "/rootfs.tar " + nr + "/ && chmod 644 " + nr + "/rootfs.tar")
                .status,
            0);
  auto r = Sh("cd " + nr + " && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=" + nr +
              " " + BasaltBin() + " image build --rootfs rootfs.tar --output out " + SmallSizes() +
              kCommon);
  ASSERT_EQ(r.status, 0) << r.output;
  struct stat st;
  ASSERT_EQ(stat((nr + "/out/disk.img").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);  // really built unprivileged
  // Same bytes as the root build: the owners 0, 1, 1000, group 42/60, setuid, capability and
  // the device node all came from the tar headers.
  EXPECT_EQ(Sha(nr + "/out/usr.img"), Sha(dir_->path() + "/ref/usr.img"));
  EXPECT_EQ(Sha(nr + "/out/disk.img"), Sha(dir_->path() + "/ref/disk.img"));
  auto dump = Sh("dump.erofs --path=/lib/x86_64-linux-gnu/owned-by-alice " + nr + "/out/usr.img");
  EXPECT_NE(dump.output.find("Uid: 1000"), std::string::npos) << dump.output;
}

// Writes `data` as a blob of an OCI layout and returns its digest.
std::string Blob(const std::string& layout, const std::string& file) {
  std::string sha = Sha(file);
  std::filesystem::create_directories(layout + "/blobs/sha256");
  std::filesystem::copy_file(file, layout + "/blobs/sha256/" + sha,
                             std::filesystem::copy_options::overwrite_existing);
  return "sha256:" + sha;
}

std::string JsonBlob(const std::string& layout, const nlohmann::json& j, const std::string& tmp) {
  std::ofstream(tmp) << j.dump();
  return Blob(layout, tmp);
}

TEST_F(ImageInputTest, OciLayersApplyInOrderWithWhiteouts) {
  const std::string d = dir_->path() + "/oci";
  const std::string layout = d + "/layout";
  std::filesystem::create_directories(d + "/l2/usr/share/doc/busybox");
  std::filesystem::create_directories(d + "/l2/usr/lib/x86_64-linux-gnu");
  std::filesystem::create_directories(d + "/l2/etc");
  // Layer 2: deletes /usr/bin/ping, makes /usr/lib/x86_64-linux-gnu opaque (only its new file
  // remains), changes /etc/passwd.
  std::filesystem::create_directories(d + "/l2/usr/bin");
  std::ofstream(d + "/l2/usr/bin/.wh.ping");
  std::ofstream(d + "/l2/usr/lib/x86_64-linux-gnu/.wh..wh..opq");
  std::ofstream(d + "/l2/usr/lib/x86_64-linux-gnu/new-in-layer-2") << "layer 2\n";
  std::ofstream(d + "/l2/etc/passwd") << "root:x:0:0::/root:/bin/sh\n";
  ASSERT_EQ(Sh("gzip -c " + dir_->path() + "/rootfs.tar > " + d +
               "/l1.tar.gz && tar --numeric-owner "
               "--owner=0 --group=0 -C " +
               d + "/l2 -czf " + d + "/l2.tar.gz usr etc")
                .status,
            0);
  std::string l1 = Blob(layout, d + "/l1.tar.gz");
  std::string l2 = Blob(layout, d + "/l2.tar.gz");
  nlohmann::json config = {
      {"architecture", "amd64"}, {"os", "linux"}, {"rootfs", {{"type", "layers"}}}};
  std::string cfg = JsonBlob(layout, config, d + "/config.json");
  nlohmann::json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", cfg}, {"size", 1}}},
      {"layers",
       {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"}, {"digest", l1}, {"size", 1}},
        {{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
         {"digest", l2},
         {"size", 1}}}}};
  std::string m = JsonBlob(layout, manifest, d + "/manifest.json");
  nlohmann::json index = {{"schemaVersion", 2},
                          {"manifests",
                           {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"digest", m},
                             {"size", 1}}}}};
  std::ofstream(layout + "/index.json") << index.dump();
  std::ofstream(layout + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";

  auto r = Sh(BasaltBin() + " image build --rootfs " + layout + " --output " + d + "/out " +
              SmallSizes() + kCommon);
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = ReadJson(d + "/out/image.json");
  EXPECT_EQ(j["input_kind"], "oci");
  EXPECT_EQ(j["input_digest"], m);
  std::string ex = d + "/extract";
  ASSERT_EQ(Sh("fsck.erofs --extract=" + ex + " --preserve " + d + "/out/usr.img").status, 0);
  EXPECT_FALSE(std::filesystem::exists(ex + "/bin/ping"));
  EXPECT_TRUE(std::filesystem::exists(ex + "/bin/busybox"));
  EXPECT_TRUE(std::filesystem::exists(ex + "/lib/x86_64-linux-gnu/new-in-layer-2"));
  EXPECT_FALSE(std::filesystem::exists(ex + "/lib/x86_64-linux-gnu/owned-by-alice"));
  EXPECT_FALSE(std::filesystem::exists(ex + "/lib/x86_64-linux-gnu/.wh..wh..opq"));
  EXPECT_FALSE(std::filesystem::exists(ex + "/bin/.wh.ping"));

  // A layer whose bytes do not match its digest is refused before extraction.
  std::ofstream(layout + "/blobs/sha256/" + l2.substr(7), std::ios::app) << "tampered";
  r = Sh(BasaltBin() + " image build --rootfs " + layout + " --output " + d + "/out2 " +
         SmallSizes() + kCommon);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("does not match its digest"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(d + "/out2"));

  // Mistyped index entries are named errors, exit 3, not an uncaught nlohmann exception.
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {R"({"manifests":[7]})", "manifest entry that is not an object"},
           {R"({"manifests":[{"platform":[],"digest":5}]})", "manifest entry has no digest"}}) {
    std::ofstream(layout + "/index.json", std::ios::trunc) << text;
    r = Sh(BasaltBin() + " image build --rootfs " + layout + " --output " + d + "/out3 " +
           SmallSizes() + kCommon);
    EXPECT_EQ(r.status, 3) << text << ": " << r.output;  // invalid input
    EXPECT_NE(r.output.find(want), std::string::npos) << text << ": " << r.output;
  }
}

}  // namespace
}  // namespace basalt::image::testing
