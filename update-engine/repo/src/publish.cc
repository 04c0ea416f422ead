#include "repo/publish.h"

#include <unistd.h>

#include <filesystem>

#include "attest/uki_measurements.h"
#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/keyring.h"
#include "common/termination.h"
#include "common/version.h"
#include "payload/boot_artifacts.h"
#include "payload/reader.h"
#include "repo/dsse.h"
#include "repo/image_info.h"
#include "repo/root_files.h"

namespace basalt::repo {
namespace fs = std::filesystem;

namespace {

// Removes the staging directory unless the publish succeeded.
class StagingDir {
 public:
  explicit StagingDir(fs::path p) : path_(std::move(p)), on_signal_(path_.string()) {}
  StagingDir(StagingDir&& other) noexcept
      : path_(std::move(other.path_)),
        committed_(std::exchange(other.committed_, true)),
        on_signal_(std::move(other.on_signal_)) {}
  StagingDir& operator=(StagingDir&&) = delete;
  ~StagingDir() {
    if (!committed_) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  const fs::path& path() const { return path_; }
  void Commit() {
    committed_ = true;
    on_signal_ = RemoveOnTermination();
  }

 private:
  fs::path path_;
  bool committed_ = false;
  RemoveOnTermination on_signal_;  // SIGTERM/SIGINT mid-publish: the staging directory goes too
};

// Copies and fsyncs: the release signs this file's hash, so it must be whole on disk before
// the staging directory is renamed into place.
Status CopyFileDurable(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::none, ec);
  if (ec)
    return Failf(ErrorKind::kIo, "copy {} to {}: {}", from.string(), to.string(), ec.message());
  return FsyncFile(to.string());
}

// An imported full payload must be for this image: a payload for another build would be
// signed into the release and then refused by every host (or, worse, applied). Reads its head
// with the payload format's own parser, requires a signature by one of the publishing keys
// (the release keys hosts trust, DESIGN.md "Trust chain") and compares the target with
// image.json. The errors name the file and the field.
Status CheckImportedPayload(const std::string& path, const ImageInfo& image,
                            std::span<const PrivateKey> keys) {
  auto fail = [&](std::string_view what) {
    return Failf(ErrorKind::kInvalidInput, "--payload {}: {}", path, what);
  };
  BASALT_ASSIGN_OR_RETURN(auto src, payload::FilePayloadSource::Open(path));
  Keyring ring;
  for (const PrivateKey& k : keys)
    ring.Add(k.public_key());
  auto head = payload::ReadHead(*src, &ring, 1);
  if (!head) return fail(head.error().message());
  const payload::Manifest& m = head->manifest;
  uint64_t expected_size = head->header.blobs_offset() + m.blobs_size();
  if (src->Size() != expected_size) {
    return fail(fmt::format("file size {} differs from the {} bytes its header and manifest give",
                            src->Size().value_or(0), expected_size));
  }
  if (!m.from_version().empty()) {
    return fail(fmt::format("is a delta from {}, not a full payload", m.from_version()));
  }
  if (m.version() != image.version) {
    return fail(fmt::format("target version {} does not match image.json's version {}", m.version(),
                            image.version));
  }
  const payload::Partition* usr = nullptr;
  for (const payload::Partition& p : m.partitions()) {
    if (p.name() == "usr") usr = &p;
  }
  if (usr == nullptr) return fail("has no usr partition");
  if (!usr->old_sha256().empty()) return fail("usr partition is a delta, not a full image");
  std::string root =
      ToHex(std::span(reinterpret_cast<const uint8_t*>(usr->verity().root_hash().data()),
                      usr->verity().root_hash().size()));
  if (root != image.usr_root_hash) {
    return fail(fmt::format("target usr root hash {} does not match image.json's usr.root_hash {}",
                            root, image.usr_root_hash));
  }
  if (usr->new_size() != image.usr_size) {
    return fail(fmt::format("target usr size {} does not match image.json's usr.size {}",
                            usr->new_size(), image.usr_size));
  }
  // The release names the image's UKIs; hosts require the payload to carry exactly those.
  for (const auto& [slot, f] : image.uki) {
    const std::string name = payload::UkiArtifactName(slot);
    const payload::BootArtifact* a = payload::FindBootArtifact(m, name);
    if (a == nullptr) return fail(fmt::format("carries no {} (image.json has uki.{})", name, slot));
    const std::string sha =
        ToHex(std::span(reinterpret_cast<const uint8_t*>(a->sha256().data()), a->sha256().size()));
    if (a->size() != f.size || sha != f.sha256) {
      return fail(
          fmt::format("{} is {} bytes with SHA-256 {}, image.json's uki.{} is {} bytes "
                      "with {}",
                      name, a->size(), sha, slot, f.size, f.sha256));
    }
  }
  return {};
}

// Hashes what is actually on disk rather than trusting a producer's report of it.
Result<PayloadRef> Describe(const fs::path& file, const std::string& url) {
  std::error_code ec;
  uint64_t size = fs::file_size(file, ec);
  if (ec) return Failf(ErrorKind::kIo, "stat {}: {}", file.string(), ec.message());
  if (size == 0) return Failf(ErrorKind::kInvalidInput, "payload {} is empty", file.string());
  BASALT_ASSIGN_OR_RETURN(Sha256Digest digest, Sha256File(file.string()));
  PayloadRef p;
  p.url = url;
  p.size = size;
  p.sha256 = ToHex(digest);
  return p;
}

Result<std::optional<Release>> ExistingRelease(const fs::path& repo, const std::string& version) {
  fs::path path = repo / "releases" / version / "release.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<Release>();
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path.string()));
  BASALT_ASSIGN_OR_RETURN(Envelope env, ParseEnvelope(text));
  BASALT_ASSIGN_OR_RETURN(Release rel, ParseRelease(env.payload));
  return std::optional<Release>(std::move(rel));
}

// PublishRelease's steps: check the image, stage the release's files, sign, and move the
// staging directory into place in one rename.
class Publisher {
 public:
  Publisher(const PublishOptions& options, std::span<const PrivateKey> keys, PayloadMaker* maker,
            Logger& log)
      : opt_(options), keys_(keys), maker_(maker), log_(log), repo_(options.repo_dir) {}

  Result<Release> Run() {
    if (keys_.empty()) return Fail(ErrorKind::kInvalidInput, "publish needs at least one --key");
    BASALT_RETURN_IF_ERROR(LoadImage());
    BASALT_ASSIGN_OR_RETURN(StagingDir staging, Stage());
    rel_ = ReleaseOfImage();
    // With a root, the release names its repository and must be signed by release-role keys
    // (the same keys sign the payload manifests, which hosts check against that role too).
    BASALT_ASSIGN_OR_RETURN(std::optional<SignedRoot> root, LoadRepositoryRoot(opt_.repo_dir));
    BASALT_RETURN_IF_ERROR(CheckSignersForRole(root, Role::kRelease, keys_));
    if (root) rel_.repository = root->root.repository;
    BASALT_RETURN_IF_ERROR(CopySbom(staging.path()));
    BASALT_RETURN_IF_ERROR(AddFullPayload(staging.path()));
    for (const std::string& old_dir : opt_.delta_from) {
      BASALT_RETURN_IF_ERROR(AddDelta(old_dir, staging.path()));
    }
    BASALT_RETURN_IF_ERROR(Sign(staging.path()));
    BASALT_RETURN_IF_ERROR(Commit(staging));
    log_.Info(
        fmt::format("published release {} with {} payload(s)", rel_.version, rel_.payloads.size()),
        {{"BASALT_VERSION", rel_.version}});
    return std::move(rel_);
  }

 private:
  fs::path Releases() const { return repo_ / "releases"; }
  fs::path FinalDir() const { return Releases() / image_.version; }
  std::string UrlPrefix() const { return fmt::format("releases/{}/", image_.version); }

  Status LoadImage() {
    BASALT_ASSIGN_OR_RETURN(image_, LoadImageInfo(opt_.image_dir));
    // 0.0.0 is what `image build` records when it was given no version: publishing it would
    // make a release that every later unversioned build collides with.
    if (image_.version == kUnversionedImage) {
      return Failf(ErrorKind::kInvalidInput,
                   "{}/image.json: version is {}, the placeholder of an image built without a "
                   "version; rebuild with `basalt image build --version V` (or `version` in the "
                   "definition)",
                   opt_.image_dir, kUnversionedImage);
    }
    if (image_.usr_hash_algorithm != "sha256") {
      return Failf(ErrorKind::kUnsupported, "image {}: usr hash algorithm {} is not sha256",
                   opt_.image_dir, image_.usr_hash_algorithm);
    }
    for (const auto& [slot, f] : image_.uki) {
      if (f.measurements) BASALT_RETURN_IF_ERROR(CheckUkiMeasurements(slot, f));
    }
    return {};
  }

  // The release signs image.json's predicted measurements for verifiers to trust, so they are
  // measured again here from the UKI they describe rather than copied on faith.
  Status CheckUkiMeasurements(const std::string& slot, const UkiFileInfo& f) const {
    const std::string path = (fs::path(opt_.image_dir) / f.file).string();
    BASALT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
    if (bytes.size() != f.size || ToHex(Sha256(bytes)) != f.sha256) {
      return Failf(ErrorKind::kIntegrity, "{} is not the UKI image.json's uki.{} describes", path,
                   slot);
    }
    auto measured = attest::MeasureUki(bytes);
    if (!measured) return std::unexpected(std::move(measured).error().WithContext(path));
    if (*measured != *f.measurements) {
      return Failf(ErrorKind::kIntegrity,
                   "image.json's uki.{}.measurements do not match {} (pcr11 {} recorded, {} "
                   "measured; authenticode_sha256 {} recorded, {} measured)",
                   slot, path, f.measurements->pcr11, measured->pcr11,
                   f.measurements->authenticode_sha256, measured->authenticode_sha256);
    }
    return {};
  }

  // releases/.staging-<version>-<pid>, removed again unless the publish succeeds. Releases are
  // immutable: an existing version is refused here and, racing, at the final rename.
  Result<StagingDir> Stage() {
    std::error_code ec;
    if (fs::exists(FinalDir(), ec)) {
      return Failf(ErrorKind::kPolicy,
                   "release {} already exists in {}; releases are immutable, publish a new version",
                   image_.version, opt_.repo_dir);
    }
    fs::create_directories(Releases(), ec);
    if (ec) return Failf(ErrorKind::kIo, "create {}: {}", Releases().string(), ec.message());
    StagingDir staging(Releases() / fmt::format(".staging-{}-{}", image_.version, ::getpid()));
    fs::remove_all(staging.path(), ec);
    fs::create_directory(staging.path(), ec);
    if (ec) return Failf(ErrorKind::kIo, "create {}: {}", staging.path().string(), ec.message());
    return staging;
  }

  Release ReleaseOfImage() const {
    Release rel;
    rel.version = image_.version;
    rel.created = opt_.now;
    rel.usr.root_hash = image_.usr_root_hash;
    rel.usr.salt = image_.usr_salt;
    rel.usr.hash_algorithm = image_.usr_hash_algorithm;
    rel.usr.data_block_size = image_.usr_data_block_size;
    rel.usr.hash_block_size = image_.usr_hash_block_size;
    rel.usr.data_size = image_.usr_data_blocks * image_.usr_data_block_size;
    rel.usr.hash_offset = image_.usr_hash_offset;
    rel.kernel.version = image_.kernel_version;
    rel.kernel.sha256 = image_.kernel_sha256;
    rel.kernel.cmdline = image_.kernel_cmdline;
    rel.sbom_sha256 = image_.sbom_sha256;
    rel.input_digest = image_.input_digest;
    if (!image_.uki.empty()) {
      BootInfo boot;
      for (const auto& [slot, f] : image_.uki)
        boot.uki[slot] = {f.size, f.sha256, f.measurements};
      rel.boot = std::move(boot);
    }
    return rel;
  }

  // The SBOM travels with the release, so a deployed host's contents can be audited.
  Status CopySbom(const fs::path& staging) const {
    fs::path sbom_src = fs::path(opt_.image_dir) / image_.sbom_path;
    BASALT_ASSIGN_OR_RETURN(Sha256Digest sbom_digest, Sha256File(sbom_src.string()));
    if (ToHex(sbom_digest) != image_.sbom_sha256) {
      return Failf(ErrorKind::kIntegrity, "{}: SHA-256 does not match image.json's sbom.sha256",
                   sbom_src.string());
    }
    return CopyFileDurable(sbom_src, staging / "sbom.spdx.json");
  }

  // The full payload: imported as given, or made by the payload maker.
  Status AddFullPayload(const fs::path& staging) {
    const std::string name = "full.payload";
    if (opt_.full_payload) {
      BASALT_RETURN_IF_ERROR(CheckImportedPayload(*opt_.full_payload, image_, keys_));
      BASALT_RETURN_IF_ERROR(CopyFileDurable(*opt_.full_payload, staging / name));
    } else {
      if (maker_ == nullptr) {
        return Fail(ErrorKind::kUnsupported,
                    "no payload generator is built into this basalt; pass a full payload made "
                    "beforehand with --payload FILE");
      }
      PayloadRequest req{opt_.image_dir, std::nullopt, (staging / name).string(), opt_.key_refs};
      BASALT_ASSIGN_OR_RETURN(MadePayload made, maker_->Make(req, log_));
      if (made.is_delta || made.to_version != image_.version) {
        return Failf(ErrorKind::kInternal,
                     "payload generator made a {} payload for {}, asked for "
                     "a full payload for {}",
                     made.is_delta ? "delta" : "full", made.to_version, image_.version);
      }
      BASALT_RETURN_IF_ERROR(MoveInto(made.path, staging / name));
    }
    BASALT_ASSIGN_OR_RETURN(PayloadRef full, Describe(staging / name, UrlPrefix() + name));
    full.kind = PayloadKind::kFull;
    rel_.payloads.push_back(full);
    return {};
  }

  // A delta from an older image build, which must be the /usr that hosts on that version have.
  Status AddDelta(const std::string& old_dir, const fs::path& staging) {
    BASALT_ASSIGN_OR_RETURN(ImageInfo old, LoadImageInfo(old_dir));
    if (old.version == image_.version) {
      return Failf(ErrorKind::kInvalidInput, "--delta-from {} is the same version {}", old_dir,
                   old.version);
    }
    BASALT_ASSIGN_OR_RETURN(std::optional<Release> published, ExistingRelease(repo_, old.version));
    if (published && published->usr.root_hash != old.usr_root_hash) {
      return Failf(ErrorKind::kIntegrity,
                   "--delta-from {}: its /usr root hash {} differs from published release {}'s "
                   "{}; no host on {} could apply the delta",
                   old_dir, old.usr_root_hash, old.version, published->usr.root_hash, old.version);
    }
    if (maker_ == nullptr) {
      return Failf(ErrorKind::kUnsupported,
                   "--delta-from {}: no payload generator is built into this basalt", old_dir);
    }
    std::string name = fmt::format("delta-from-{}.payload", old.version);
    PayloadRequest req{opt_.image_dir, old_dir, (staging / name).string(), opt_.key_refs};
    BASALT_ASSIGN_OR_RETURN(MadePayload made, maker_->Make(req, log_));
    if (!made.is_delta || made.from_version != old.version ||
        made.from_root_hash != old.usr_root_hash || made.to_version != image_.version) {
      return Failf(ErrorKind::kInternal,
                   "payload generator made a payload {} -> {} (root {}), asked for a delta "
                   "{} -> {} (root {})",
                   made.from_version, made.to_version, made.from_root_hash, old.version,
                   image_.version, old.usr_root_hash);
    }
    BASALT_RETURN_IF_ERROR(MoveInto(made.path, staging / name));
    BASALT_ASSIGN_OR_RETURN(PayloadRef delta, Describe(staging / name, UrlPrefix() + name));
    delta.kind = PayloadKind::kDelta;
    delta.from_version = old.version;
    delta.from_root_hash = old.usr_root_hash;
    rel_.payloads.push_back(delta);
    return {};
  }

  Status Sign(const fs::path& staging) const {
    std::string body = SerializeRelease(rel_);
    // Our own serializer must produce what every host's strict parser accepts.
    BASALT_ASSIGN_OR_RETURN(Release check, ParseRelease(body));
    if (!(check == rel_)) return Fail(ErrorKind::kInternal, "release document does not round-trip");
    BASALT_ASSIGN_OR_RETURN(std::string envelope, SignEnvelope(kReleasePayloadType, body, keys_));
    // Every staged file is fsynced by now (CopyFileDurable, MoveInto, WriteFileAtomic); this
    // makes their names in the staging directory durable before Commit renames it.
    BASALT_RETURN_IF_ERROR(WriteFileAtomic((staging / "release.json").string(), envelope));
    return FsyncDirectory(staging.string());
  }

  Status Commit(StagingDir& staging) const {
    // rename(2) of a directory onto an existing non-empty one fails, so a concurrent publish of
    // the same version cannot overwrite the winner.
    if (::rename(staging.path().c_str(), FinalDir().c_str()) != 0) {
      if (errno == ENOTEMPTY || errno == EEXIST) {
        return Failf(ErrorKind::kPolicy, "release {} already exists; releases are immutable",
                     image_.version);
      }
      return FailErrno("rename " + staging.path().string());
    }
    staging.Commit();
    // The rename itself is durable only once releases/ is (and releases/ once the repository
    // directory is, for a first release).
    BASALT_RETURN_IF_ERROR(FsyncDirectory(Releases().string()));
    return FsyncDirectory(repo_.string());
  }

  // The generator's output is fsynced here rather than trusted to be: its hash is signed.
  static Status MoveInto(const std::string& made, const fs::path& dest) {
    if (fs::path(made) != dest) {
      std::error_code ec;
      fs::rename(made, dest, ec);
      if (ec) return Failf(ErrorKind::kIo, "move {}: {}", made, ec.message());
    }
    return FsyncFile(dest.string());
  }

  const PublishOptions& opt_;
  std::span<const PrivateKey> keys_;
  PayloadMaker* maker_;
  Logger& log_;
  fs::path repo_;
  ImageInfo image_;
  Release rel_;
};

}  // namespace

Result<Release> PublishRelease(const PublishOptions& options, std::span<const PrivateKey> keys,
                               PayloadMaker* maker, Logger& log) {
  return Publisher(options, keys, maker, log).Run();
}

}  // namespace basalt::repo
