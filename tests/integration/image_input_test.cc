// Tarball and OCI inputs, and the unprivileged build: each must produce the image a root build
// of the same tree produces, byte for byte (owners, modes, capabilities, devices included).
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/hash.h"
#include "common/hex.h"
#include "common/printable.h"
#include "image/definition.h"
#include "input.h"
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

// Setuid/setgid files are findings in the SBOM: the test tree's busybox is setuid root.
TEST_F(ImageInputTest, SbomRecordsSetuidFilesAsFindings) {
  auto sbom = ReadJson(dir_->path() + "/ref/sbom.spdx.json");
  const auto& image = sbom["packages"][0];
  ASSERT_EQ(image["SPDXID"], "SPDXRef-Image");
  ASSERT_TRUE(image.contains("annotations")) << image.dump(2);
  ASSERT_EQ(image["annotations"].size(), 1u) << image.dump(2);
  const auto& a = image["annotations"][0];
  EXPECT_EQ(a["annotationType"], "REVIEW");
  EXPECT_EQ(a["annotationDate"], "2020-09-13T12:26:40Z");  // the SOURCE_DATE_EPOCH
  EXPECT_EQ(a["comment"], "basalt finding: setuid file /usr/bin/busybox (mode 4755, owner 0:0)");
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

// ---- Hostile inputs (issue #17): staging must never touch anything outside the tree. ----
//
// Each case builds the input next to a canary directory and file and points the input's links
// at them; after staging (refused or not) the canary must be exactly as it was.

struct TarEntry {
  std::string path{};
  mode_t type = AE_IFREG;
  std::string data{};
  std::string symlink{};   // AE_IFLNK target
  std::string hardlink{};  // hardlink target (type ignored)
  dev_t rdev = 0;
  mode_t perm = 0644;
};

TarEntry Dir(std::string path) {
  return {.path = std::move(path), .type = AE_IFDIR, .perm = 0755};
}
TarEntry File(std::string path, std::string data) {
  return {.path = std::move(path), .data = std::move(data)};
}
TarEntry Link(std::string path, std::string target) {
  return {.path = std::move(path), .type = AE_IFLNK, .symlink = std::move(target), .perm = 0777};
}
TarEntry Hard(std::string path, std::string target) {
  return {.path = std::move(path), .hardlink = std::move(target)};
}

// A GNU tar written by libarchive, so entries can be anything a hostile tarball can hold.
void WriteTar(const std::string& file, const std::vector<TarEntry>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_gnutar(a);  // raw name bytes, long names
  ASSERT_EQ(archive_write_open_filename(a, file.c_str()), ARCHIVE_OK);
  for (const TarEntry& e : entries) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_mtime(ae, 1500000000, 0);
    if (!e.hardlink.empty()) {
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_hardlink(ae, e.hardlink.c_str());
      archive_entry_set_size(ae, 0);
    } else {
      archive_entry_set_filetype(ae, e.type);
      archive_entry_set_size(ae, e.type == AE_IFREG ? static_cast<la_int64_t>(e.data.size()) : 0);
      if (e.type == AE_IFLNK) archive_entry_set_symlink(ae, e.symlink.c_str());
      if (e.type == AE_IFCHR || e.type == AE_IFBLK) archive_entry_set_rdev(ae, e.rdev);
    }
    archive_entry_set_perm(ae, e.perm);
    ASSERT_EQ(archive_write_header(a, ae), ARCHIVE_OK) << archive_error_string(a);
    if (e.hardlink.empty() && e.type == AE_IFREG && !e.data.empty()) {
      ASSERT_EQ(archive_write_data(a, e.data.data(), e.data.size()),
                static_cast<la_ssize_t>(e.data.size()));
    }
    archive_entry_free(ae);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

// An OCI image layout whose layers are the given tar files, lowest first.
std::string MakeLayout(const std::string& layout, const std::vector<std::string>& layer_files) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& f : layer_files) {
    layers.push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                      {"digest", Blob(layout, f)},
                      {"size", std::filesystem::file_size(f)}});
  }
  nlohmann::json config = {{"architecture", "amd64"}, {"os", "linux"}};
  std::string cfg = JsonBlob(layout, config, layout + ".config.json");
  nlohmann::json manifest = {
      {"schemaVersion", 2},
      {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", cfg}}},
      {"layers", layers}};
  std::string m = JsonBlob(layout, manifest, layout + ".manifest.json");
  nlohmann::json index = {{"schemaVersion", 2}, {"manifests", {{{"digest", m}}}}};
  std::ofstream(layout + "/index.json") << index.dump();
  std::ofstream(layout + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  return m;
}

std::string Listing(const std::string& dir) {
  std::string out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    out += it->path().string() + "\n";
    if (it->is_regular_file()) {
      std::ifstream in(it->path(), std::ios::binary);
      out += std::string(std::istreambuf_iterator<char>(in), {}) + "\n";
    }
  }
  return out;
}

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(canary_ + "/.ssh");
    std::ofstream(canary_ + "/.ssh/authorized_keys") << "ssh-ed25519 AAAA canary\n";
    std::ofstream(canary_ + "/secret") << "canary secret\n";
    std::ofstream(canary_file_) << "canary file\n";
    before_ = Listing(canary_) + Listing(dir_.path() + "/canary-file-dir");
  }
  void TearDown() override {
    EXPECT_EQ(Listing(canary_) + Listing(dir_.path() + "/canary-file-dir"), before_)
        << "the canary outside the tree changed";
  }

  Result<StagedInput> Stage(const std::string& input, InputKind kind, uint64_t max = 4ULL << 30) {
    return StageInput(input, kind, tree_, {"etc", "var"}, INT64_MAX, max);
  }
  std::string Tar(const std::vector<TarEntry>& entries, const std::string& name = "in.tar") {
    std::string f = dir_.path() + "/" + name;
    WriteTar(f, entries);
    return f;
  }
  // The error of staging `input`, which must fail with `kind`.
  std::string Refusal(const std::string& input, InputKind kind,
                      ErrorKind error = ErrorKind::kInvalidInput, uint64_t max = 4ULL << 30) {
    auto r = Stage(input, kind, max);
    if (r) {
      ADD_FAILURE() << "staged, expected a refusal";
      return "";
    }
    EXPECT_EQ(r.error().kind(), error) << r.error().message();
    EXPECT_EQ(r.error().message().find('\n'), std::string::npos) << r.error().message();
    return r.error().message();
  }

  TempDir dir_;
  const std::string tree_ = dir_.path() + "/tree";
  const std::string canary_ = dir_.path() + "/canary";
  const std::string canary_file_ = dir_.path() + "/canary-file-dir/file";
  std::string before_;

 private:
  // Created before SetUp runs so the canary file has a directory.
  bool made_ = std::filesystem::create_directories(dir_.path() + "/canary-file-dir");
};

TEST_F(HostileInputTest, OciWhiteoutThroughSymlinkIsRefused) {
  const std::string layout = dir_.path() + "/layout";
  std::string l1 = Tar({Dir("usr"), Link("usr/x", canary_)}, "l1.tar");
  std::string l2 = Tar({Dir("usr"), File("usr/x/.wh..ssh", "")}, "l2.tar");
  MakeLayout(layout, {l1, l2});
  EXPECT_EQ(Refusal(layout, InputKind::kOci),
            "OCI layout " + layout +
                ": layer 2: whiteout 'usr/x/.wh..ssh': 'usr/x' is a symlink, refusing to go "
                "through it");
}

TEST_F(HostileInputTest, OciOpaqueWhiteoutThroughSymlinkIsRefused) {
  const std::string layout = dir_.path() + "/layout";
  std::string l1 = Tar({Dir("usr"), Link("usr/x", canary_)}, "l1.tar");
  std::string l2 = Tar({Dir("usr"), File("usr/x/.wh..wh..opq", "")}, "l2.tar");
  MakeLayout(layout, {l1, l2});
  EXPECT_EQ(Refusal(layout, InputKind::kOci),
            "OCI layout " + layout +
                ": layer 2: whiteout 'usr/x/.wh..wh..opq': 'usr/x' is a symlink, refusing to go "
                "through it");
}

TEST_F(HostileInputTest, OciWhiteoutOfASymlinkRemovesTheLinkOnly) {
  const std::string layout = dir_.path() + "/layout";
  std::string l1 = Tar({Dir("usr"), Link("usr/x", canary_), File("usr/keep", "k")}, "l1.tar");
  std::string l2 = Tar({Dir("usr"), File("usr/.wh.x", "")}, "l2.tar");
  MakeLayout(layout, {l1, l2});
  auto r = Stage(layout, InputKind::kOci);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(tree_ + "/usr/x")));
  EXPECT_TRUE(std::filesystem::exists(tree_ + "/usr/keep"));
}

TEST_F(HostileInputTest, OciWhiteoutNamesDotDotAndEmptyAreRefused) {
  for (const char* name : {".wh...", ".wh..", ".wh."}) {
    SCOPED_TRACE(name);
    const std::string layout = dir_.path() + "/layout-" + std::to_string(strlen(name));
    std::string l1 = Tar({Dir("usr"), File("usr/a", "a")}, "l1.tar");
    std::string l2 = Tar({Dir("usr"), File(std::string("usr/") + name, "")}, "l2.tar");
    MakeLayout(layout, {l1, l2});
    std::filesystem::remove_all(tree_);
    EXPECT_EQ(
        Refusal(layout, InputKind::kOci),
        "OCI layout " + layout + ": layer 2: whiteout 'usr/" + name + "' does not name a file");
    EXPECT_TRUE(std::filesystem::exists(tree_ + "/usr/a"));
  }
}

TEST_F(HostileInputTest, OciLayerWritingThroughAnEarlierLayersSymlinkIsRefused) {
  const std::string layout = dir_.path() + "/layout";
  std::string l1 = Tar({Dir("usr"), Link("usr/x", canary_)}, "l1.tar");
  std::string l2 = Tar({Dir("usr"), File("usr/x/secret", "pwned\n")}, "l2.tar");
  MakeLayout(layout, {l1, l2});
  EXPECT_EQ(Refusal(layout, InputKind::kOci),
            "OCI layout " + layout +
                ": layer 2: entry 'usr/x/secret': 'usr/x' is a symlink, refusing to go through "
                "it");
}

TEST_F(HostileInputTest, OciManifestListingALayerTwiceIsRefused) {
  const std::string layout = dir_.path() + "/layout";
  std::string l1 = Tar({Dir("usr"), File("usr/a", "a")}, "l1.tar");
  MakeLayout(layout, {l1, l1});
  std::string digest = "sha256:" + Sha(l1);
  EXPECT_EQ(Refusal(layout, InputKind::kOci),
            "OCI layout " + layout + ": layer 2 repeats layer 1 (" + digest + ")");
  EXPECT_FALSE(std::filesystem::exists(tree_));  // refused before anything is extracted
}

// A blob of the layout that is a link to a file on the build host whose digest the attacker
// knows (here: a layer tarball holding the canary's bytes): the layout is a root of its own, so
// the link resolves inside it, finds nothing, and the host file is never read.
TEST_F(HostileInputTest, OciBlobsLinkedOutOfTheLayoutAreNeverRead) {
  const std::string layout = dir_.path() + "/layout";
  std::string host_layer =
      Tar({Dir("usr"), File("usr/stolen", "canary secret\n")}, "host-layer.tar");
  MakeLayout(layout, {host_layer});
  const std::string hex = Sha(host_layer);
  const std::string blob = layout + "/blobs/sha256/" + hex;
  std::filesystem::remove(blob);
  std::filesystem::create_symlink(host_layer, blob);
  EXPECT_EQ(Refusal(layout, InputKind::kOci), "OCI layout " + layout + ": layer 1: blobs/sha256/" +
                                                  hex + " is missing from the layout");
  EXPECT_FALSE(std::filesystem::exists(tree_ + "/usr/stolen"));
  // A link inside the layout still works, as for a layout that deduplicates its blobs.
  std::filesystem::remove(blob);
  std::filesystem::copy_file(host_layer, layout + "/blobs/sha256/copy");
  std::filesystem::create_symlink("copy", blob);
  std::filesystem::remove_all(tree_);
  auto staged = Stage(layout, InputKind::kOci);
  EXPECT_TRUE(staged.has_value()) << staged.error().message();
  EXPECT_TRUE(std::filesystem::exists(tree_ + "/usr/stolen"));
}

TEST_F(HostileInputTest, TarballWritingThroughItsOwnSymlinkIsRefused) {
  std::string t = Tar({Dir("usr"), Link("usr/x", canary_), File("usr/x/secret", "pwned\n")});
  EXPECT_EQ(
      Refusal(t, InputKind::kTarball),
      "tarball " + t + ": entry 'usr/x/secret': 'usr/x' is a symlink, refusing to go through it");
}

TEST_F(HostileInputTest, TarballFileReplacingASymlinkReplacesTheLink) {
  // The link is replaced by the file; nothing is written through it.
  std::string t = Tar({Dir("usr"), Link("usr/f", canary_file_), File("usr/f", "mine\n")});
  auto r = Stage(t, InputKind::kTarball);
  ASSERT_TRUE(r) << r.error().message();
  struct stat st;
  ASSERT_EQ(lstat((tree_ + "/usr/f").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  std::ifstream in(tree_ + "/usr/f");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "mine\n");
}

TEST_F(HostileInputTest, TarballHardlinksOutsideThroughOrToSymlinksAreRefused) {
  struct Case {
    std::vector<TarEntry> entries;
    std::string want;  // after "tarball T: "
  };
  std::vector<Case> cases = {
      {{Dir("usr"), Hard("usr/h", "../canary/secret")},
       "entry '../canary/secret' escapes the root with '..'"},
      {{Dir("usr"), Hard("usr/h", canary_ + "/secret")},
       "hardlink 'usr/h' -> '" + canary_.substr(1) +
           "/secret': the target is not a regular file already in the tree"},
      {{Dir("usr"), Link("usr/x", canary_), Hard("usr/h", "usr/x/secret")},
       "hardlink 'usr/h': 'usr/x' is a symlink, refusing to go through it"},
      {{Dir("usr"), Link("usr/l", canary_file_), Hard("usr/h", "usr/l")},
       "hardlink 'usr/h' -> 'usr/l': the target is not a regular file already in the tree"},
      {{Dir("usr"), Hard("usr/h", "usr/later"), Link("usr/later", canary_file_)},
       "hardlink 'usr/h' -> 'usr/later': the target is not a regular file already in the tree"},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want);
    std::filesystem::remove_all(tree_);
    std::string t = Tar(c.entries, "h" + std::to_string(n++) + ".tar");
    EXPECT_EQ(Refusal(t, InputKind::kTarball), "tarball " + t + ": " + c.want);
  }
  // A hardlink to a regular file of the tree is fine.
  std::filesystem::remove_all(tree_);
  std::string ok = Tar({Dir("usr"), File("usr/a", "a"), Hard("usr/b", "usr/a")}, "ok.tar");
  auto r = Stage(ok, InputKind::kTarball);
  ASSERT_TRUE(r) << r.error().message();
  struct stat a, b;
  ASSERT_EQ(stat((tree_ + "/usr/a").c_str(), &a), 0);
  ASSERT_EQ(stat((tree_ + "/usr/b").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST_F(HostileInputTest, DeviceNodesAreSkippedUnderDevAndRefusedElsewhere) {
  TarEntry null{.path = "dev/null", .type = AE_IFCHR, .rdev = makedev(1, 3), .perm = 0666};
  TarEntry sda{.path = "dev/sda", .type = AE_IFBLK, .rdev = makedev(8, 0), .perm = 0660};
  TarEntry fifo{.path = "dev/initctl", .type = AE_IFIFO, .perm = 0600};
  std::string t = Tar({Dir("usr"), Dir("dev"), null, sda, fifo}, "dev.tar");
  auto r = Stage(t, InputKind::kTarball);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->skipped_devices, 3u);
  EXPECT_TRUE(std::filesystem::is_empty(tree_ + "/dev"));

  TarEntry disk{.path = "usr/lib/disk", .type = AE_IFBLK, .rdev = makedev(8, 0), .perm = 0666};
  std::filesystem::remove_all(tree_);
  t = Tar({Dir("usr"), Dir("usr/lib"), disk}, "blk.tar");
  EXPECT_EQ(Refusal(t, InputKind::kTarball),
            "tarball " + t +
                ": entry 'usr/lib/disk' is a block device outside /dev; device nodes and fifos "
                "are refused (under /dev they are skipped)");
  EXPECT_FALSE(std::filesystem::exists(tree_ + "/usr/lib/disk"));

  // The same rule for directory input (nothing under /dev is staged from a directory).
  const std::string in = dir_.path() + "/dirinput";
  std::filesystem::create_directories(in + "/usr/lib");
  ASSERT_EQ(mknod((in + "/usr/lib/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  std::filesystem::remove_all(tree_);
  EXPECT_EQ(Refusal(in, InputKind::kDirectory),
            "rootfs " + in +
                ": entry '/usr/lib/null' is a character device outside /dev; device nodes and "
                "fifos are refused (under /dev they are skipped)");
}

TEST_F(HostileInputTest, InputLimitRefusesBombsAndSparseFilesEarly) {
  // 64 MiB of zeros compresses to almost nothing: the declared size is what counts.
  std::string t = Tar({Dir("usr"), File("usr/big", std::string(64 << 20, '\0'))}, "bomb.tar");
  ASSERT_EQ(Sh("gzip -1 -f " + t).status, 0);
  t += ".gz";
  EXPECT_LT(std::filesystem::file_size(t), 1u << 20);
  EXPECT_EQ(Refusal(t, InputKind::kTarball, ErrorKind::kInvalidInput, 16 << 20),
            "tarball " + t +
                ": entry 'usr/big' (64.00 MiB) takes the extracted input past the limit of 16.00 "
                "MiB (--max-input-size)");
  EXPECT_FALSE(std::filesystem::exists(tree_ + "/usr/big"));

  // A 10 GiB sparse file against the default limit (twice USR + ROOT at default sizes).
  const std::string sp = dir_.path() + "/sparse";
  std::filesystem::create_directories(sp + "/usr");
  ASSERT_EQ(
      Sh("truncate -s 10G " + sp + "/usr/hole && tar --sparse -C " + sp + " -cf " + sp + ".tar usr")
          .status,
      0);
  std::filesystem::remove_all(tree_);
  ImageDefinition def;
  EXPECT_EQ(Refusal(sp + ".tar", InputKind::kTarball, ErrorKind::kInvalidInput,
                    DefaultMaxInputBytes(def.sizes.usr, def.sizes.root)),
            "tarball " + sp +
                ".tar: entry 'usr/hole' (10.00 GiB) takes the extracted input past the limit of "
                "4.00 GiB (--max-input-size)");
  // The same file in a directory input (which would be hardlinked, but counts all the same).
  std::filesystem::remove_all(tree_);
  EXPECT_EQ(Refusal(sp, InputKind::kDirectory, ErrorKind::kInvalidInput, 16 << 20),
            "rootfs " + sp +
                ": entry '/usr/hole' (10.00 GiB) takes the input past the limit of 16.00 MiB "
                "(--max-input-size)");
}

TEST_F(HostileInputTest, TarballClaimingMoreThanItHoldsIsRefused) {
  std::string t = Tar({Dir("usr"), File("usr/big", std::string(1 << 20, 'x'))}, "short.tar");
  ASSERT_EQ(truncate(t.c_str(), 600 * 1024), 0);
  std::string msg = Refusal(t, InputKind::kTarball);
  EXPECT_TRUE(msg.starts_with("tarball " + t + ": entry 'usr/big' claims 1048576 bytes, read "))
      << msg;
  EXPECT_NE(msg.find("Truncated tar archive"), std::string::npos) << msg;
}

TEST_F(HostileInputTest, HostileNamesStayOnOneLine) {
  // A newline and an invalid UTF-8 byte in the name, escaped in the message.
  std::string t = Tar({Dir("usr"), Link("usr/a\nb\xff", canary_), File("usr/a\nb\xff/secret", "x")},
                      "names.tar");
  EXPECT_EQ(Refusal(t, InputKind::kTarball),
            "tarball " + t +
                ": entry 'usr/a\\x0ab\\xff/secret': 'usr/a\\x0ab\\xff' is a symlink, "
                "refusing to go through it");
  // A 4,096-byte path through a symlink: cut in the middle (common/printable.h).
  std::filesystem::remove_all(tree_);
  std::string deep = "usr/x/" + std::string(4096 - 6, 'a');
  t = Tar({Dir("usr"), Link("usr/x", canary_), File(deep, "x")}, "long.tar");
  std::string msg = Refusal(t, InputKind::kTarball);
  EXPECT_EQ(msg, "tarball " + t + ": entry '" + Printable(deep) +
                     "': 'usr/x' is a symlink, refusing to go through it");
  EXPECT_LT(msg.size(), 700u);
}

TEST_F(HostileInputTest, SymlinkLoopsEndWithAClearError) {
  std::string t =
      Tar({Dir("usr"), Link("usr/a", "b"), Link("usr/b", "a"), File("usr/a/x", "x")}, "loop.tar");
  EXPECT_EQ(Refusal(t, InputKind::kTarball),
            "tarball " + t + ": entry 'usr/a/x': 'usr/a' is a symlink, refusing to go through it");
  // A loop as the input itself.
  const std::string loop = dir_.path() + "/loop";
  ASSERT_EQ(symlink("loop", loop.c_str()), 0);
  auto kind = DetectInputKind(loop);
  ASSERT_FALSE(kind);
  EXPECT_EQ(kind.error().message(), "rootfs " + loop + ": Too many levels of symbolic links");
}

// Through the CLI: one line, exit 3, nothing left next to the output.
TEST_F(HostileInputTest, CliRefusalLeavesNothingBehind) {
  const std::string layout = dir_.path() + "/layout";
  std::string l1 = Tar({Dir("usr"), Link("usr/x", canary_)}, "l1.tar");
  std::string l2 = Tar({Dir("usr"), File("usr/x/.wh.secret", "")}, "l2.tar");
  MakeLayout(layout, {l1, l2});
  const std::string out = dir_.path() + "/outparent/out";
  std::filesystem::create_directories(dir_.path() + "/outparent");
  auto r = Sh(BasaltBin() + " image build --rootfs " + layout + " --output " + out + " " +
              SmallSizes() + kCommon + " 2>&1 >/dev/null | grep -v '^basalt: staging'");
  EXPECT_EQ(r.output,
            "basalt: error: image build: OCI layout " + layout +
                ": layer 2: whiteout 'usr/x/.wh.secret': 'usr/x' is a symlink, refusing to go "
                "through it\n");
  r = Sh(BasaltBin() + " image build --rootfs " + layout + " --output " + out + " " + SmallSizes() +
         kCommon + " >/dev/null 2>&1");
  EXPECT_EQ(r.status, 3);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() + "/outparent"));
}

TEST_F(HostileInputTest, CliMaxInputSize) {
  std::string t = Tar({Dir("usr"), File("usr/two-mib", std::string(2 << 20, 'x'))}, "two.tar");
  const std::string out = dir_.path() + "/outparent/out";
  std::filesystem::create_directories(dir_.path() + "/outparent");
  auto r = Sh(BasaltBin() + " image build --rootfs " + t + " --output " + out +
              " --max-input-size 1MiB " + SmallSizes() + kCommon);
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("basalt: error: image build: tarball " + t +
                          ": entry 'usr/two-mib' (2.00 MiB) takes the extracted input past the "
                          "limit of 1.00 MiB (--max-input-size)\n"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() + "/outparent"));
}

// A non-root build of an input with 0000 directories that fails after staging leaves nothing
// behind (fakeroot records the mode and keeps the real directory usable by us, so the work
// directory can be removed).
TEST_F(HostileInputTest, NonRootFailureRemovesUnwritableStagedDirectories) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  if (!HaveTool("setpriv")) GTEST_SKIP() << "setpriv (util-linux) not installed";
  if (!HaveTool("fakeroot")) GTEST_SKIP() << "fakeroot not installed";
  const std::string nr = dir_.path() + "/nobody";
  std::filesystem::create_directories(nr);
  ASSERT_EQ(chown(nr.c_str(), 65534, 65534), 0);
  TarEntry locked = Dir("usr/locked");
  locked.perm = 0;
  TarEntry inner = Dir("usr/locked/inner");
  inner.perm = 0;
  // No kernel: the build fails after staging.
  std::string t = Tar({Dir("usr"), inner, File("usr/locked/inner/f", "x"), locked}, "locked.tar");
  ASSERT_EQ(chmod(t.c_str(), 0644), 0);
  auto r = Sh("cd " + nr + " && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=" + nr +
              " " + BasaltBin() + " image build --rootfs " + t + " --output out " + SmallSizes() +
              kCommon);
  EXPECT_EQ(r.status, 3) << r.output;  // no kernel: bad input (docs/cli.md)
  EXPECT_NE(r.output.find("no kernel"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::is_empty(nr)) << Sh("ls -la " + nr).output;
}

TEST_F(HostileInputTest, AFifoWhereAFileBelongsIsRefusedWithoutHanging) {
  const std::string layout = dir_.path() + "/layout";
  std::string l1 = Tar({Dir("usr"), File("usr/a", "a")}, "l1.tar");
  MakeLayout(layout, {l1});
  std::filesystem::remove(layout + "/index.json");
  ASSERT_EQ(mkfifo((layout + "/index.json").c_str(), 0644), 0);
  auto r = Sh("timeout 60 " + BasaltBin() + " image build --rootfs " + layout + " --output " +
              dir_.path() + "/out " + SmallSizes() + kCommon);
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("basalt: error: image build: OCI layout " + layout + ": " + layout +
                          "/index.json is not a regular file\n"),
            std::string::npos)
      << r.output;
}

TEST_F(HostileInputTest, WorkDirectoryIsPrivateAndItsParentChecked) {
  const std::string parent = dir_.path() + "/shared";
  std::filesystem::create_directories(parent);
  ASSERT_EQ(chmod(parent.c_str(), 0777), 0);
  std::string t = Tar({Dir("usr"), File("usr/a", "a")}, "small.tar");
  auto r = Sh(BasaltBin() + " image build --rootfs " + t + " --output " + parent + "/out " +
              SmallSizes() + kCommon);
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("basalt: error: image build: output parent " + parent +
                          " is writable by other users (mode 0777, no sticky bit)"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(std::filesystem::is_empty(parent));

  // With the sticky bit (like /tmp) it is accepted, and the work directory is 0700 while the
  // build runs: watch for it from here. The input is a 512 MiB sparse file, which the build hashes
  // (for a second or two) before it finds it is no tarball, so the work directory exists long
  // enough.
  ASSERT_EQ(chmod(parent.c_str(), 01777), 0);
  t = dir_.path() + "/slow.tar";
  ASSERT_EQ(Sh("truncate -s 512M " + t).status, 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c",
          (BasaltBin() + " image build --rootfs " + t + " --output " + parent + "/out " +
           SmallSizes() + kCommon + " >/dev/null 2>&1")
              .c_str(),
          nullptr);
    _exit(127);
  }
  mode_t seen = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (seen == 0 && std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(parent, ec)) {
      struct stat st;
      if (e.path().filename().string().starts_with(".out.basalt-") &&
          lstat(e.path().c_str(), &st) == 0) {
        seen = st.st_mode & 07777;
      }
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      break;
    }
  }
  if (pid > 0) waitpid(pid, nullptr, 0);
  EXPECT_EQ(seen, 0700u);
}

}  // namespace
}  // namespace basalt::image::testing
