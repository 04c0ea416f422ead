#include "repo/publish.h"

#include <unistd.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hex.h"
#include "repo/dsse.h"
#include "repo/image_info.h"

namespace basalt::repo {
namespace fs = std::filesystem;

namespace {

// Removes the staging directory unless the publish succeeded.
class StagingDir {
 public:
  explicit StagingDir(fs::path p) : path_(std::move(p)) {}
  ~StagingDir() {
    if (!committed_) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  const fs::path& path() const { return path_; }
  void Commit() { committed_ = true; }

 private:
  fs::path path_;
  bool committed_ = false;
};

Status CopyFile(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::none, ec);
  if (ec)
    return Failf(ErrorKind::kIo, "copy {} to {}: {}", from.string(), to.string(), ec.message());
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

}  // namespace

Result<Release> PublishRelease(const PublishOptions& options, std::span<const PrivateKey> keys,
                               PayloadMaker* maker, Logger& log) {
  if (keys.empty()) return Fail(ErrorKind::kInvalidInput, "publish needs at least one --key");
  BASALT_ASSIGN_OR_RETURN(ImageInfo image, LoadImageInfo(options.image_dir));
  if (image.usr_hash_algorithm != "sha256") {
    return Failf(ErrorKind::kUnsupported, "image {}: usr hash algorithm {} is not sha256",
                 options.image_dir, image.usr_hash_algorithm);
  }
  fs::path repo(options.repo_dir);
  fs::path releases = repo / "releases";
  fs::path final_dir = releases / image.version;
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    return Failf(ErrorKind::kPolicy,
                 "release {} already exists in {}; releases are immutable, publish a new version",
                 image.version, options.repo_dir);
  }
  fs::create_directories(releases, ec);
  if (ec) return Failf(ErrorKind::kIo, "create {}: {}", releases.string(), ec.message());
  StagingDir staging(releases / fmt::format(".staging-{}-{}", image.version, ::getpid()));
  fs::remove_all(staging.path(), ec);
  fs::create_directory(staging.path(), ec);
  if (ec) return Failf(ErrorKind::kIo, "create {}: {}", staging.path().string(), ec.message());

  std::string url_prefix = fmt::format("releases/{}/", image.version);
  Release rel;
  rel.version = image.version;
  rel.created = options.now;
  rel.usr.root_hash = image.usr_root_hash;
  rel.usr.salt = image.usr_salt;
  rel.usr.hash_algorithm = image.usr_hash_algorithm;
  rel.usr.data_block_size = image.usr_data_block_size;
  rel.usr.hash_block_size = image.usr_hash_block_size;
  rel.usr.data_size = image.usr_data_blocks * image.usr_data_block_size;
  rel.usr.hash_offset = image.usr_hash_offset;
  rel.kernel.version = image.kernel_version;
  rel.kernel.sha256 = image.kernel_sha256;
  rel.sbom_sha256 = image.sbom_sha256;
  rel.input_digest = image.input_digest;

  // The SBOM travels with the release, so a deployed host's contents can be audited.
  fs::path sbom_src = fs::path(options.image_dir) / image.sbom_path;
  BASALT_ASSIGN_OR_RETURN(Sha256Digest sbom_digest, Sha256File(sbom_src.string()));
  if (ToHex(sbom_digest) != image.sbom_sha256) {
    return Failf(ErrorKind::kIntegrity, "{}: SHA-256 does not match image.json's sbom.sha256",
                 sbom_src.string());
  }
  BASALT_RETURN_IF_ERROR(CopyFile(sbom_src, staging.path() / "sbom.spdx.json"));

  // Full payload.
  const std::string full_name = "full.payload";
  if (options.full_payload) {
    BASALT_RETURN_IF_ERROR(CopyFile(*options.full_payload, staging.path() / full_name));
  } else {
    if (maker == nullptr) {
      return Fail(ErrorKind::kUnsupported,
                  "no payload generator is built into this basalt; pass a full payload made "
                  "beforehand with --payload FILE");
    }
    PayloadRequest req{options.image_dir, std::nullopt, (staging.path() / full_name).string(),
                       options.key_refs};
    BASALT_ASSIGN_OR_RETURN(MadePayload made, maker->Make(req, log));
    if (made.is_delta || made.to_version != image.version) {
      return Failf(ErrorKind::kInternal,
                   "payload generator made a {} payload for {}, asked for "
                   "a full payload for {}",
                   made.is_delta ? "delta" : "full", made.to_version, image.version);
    }
    if (fs::path(made.path) != staging.path() / full_name) {
      fs::rename(made.path, staging.path() / full_name, ec);
      if (ec) return Failf(ErrorKind::kIo, "move {}: {}", made.path, ec.message());
    }
  }
  BASALT_ASSIGN_OR_RETURN(PayloadRef full,
                          Describe(staging.path() / full_name, url_prefix + full_name));
  full.kind = PayloadKind::kFull;
  rel.payloads.push_back(full);

  for (const std::string& old_dir : options.delta_from) {
    BASALT_ASSIGN_OR_RETURN(ImageInfo old, LoadImageInfo(old_dir));
    if (old.version == image.version) {
      return Failf(ErrorKind::kInvalidInput, "--delta-from {} is the same version {}", old_dir,
                   old.version);
    }
    // A delta from a published version must start from the root hash hosts on it really have.
    BASALT_ASSIGN_OR_RETURN(std::optional<Release> published, ExistingRelease(repo, old.version));
    if (published && published->usr.root_hash != old.usr_root_hash) {
      return Failf(ErrorKind::kIntegrity,
                   "--delta-from {}: its /usr root hash {} differs from published release {}'s "
                   "{}; no host on {} could apply the delta",
                   old_dir, old.usr_root_hash, old.version, published->usr.root_hash, old.version);
    }
    if (maker == nullptr) {
      return Failf(ErrorKind::kUnsupported,
                   "--delta-from {}: no payload generator is built into this basalt", old_dir);
    }
    std::string name = fmt::format("delta-from-{}.payload", old.version);
    PayloadRequest req{options.image_dir, old_dir, (staging.path() / name).string(),
                       options.key_refs};
    BASALT_ASSIGN_OR_RETURN(MadePayload made, maker->Make(req, log));
    if (!made.is_delta || made.from_version != old.version ||
        made.from_root_hash != old.usr_root_hash || made.to_version != image.version) {
      return Failf(ErrorKind::kInternal,
                   "payload generator made a payload {} -> {} (root {}), asked for a delta "
                   "{} -> {} (root {})",
                   made.from_version, made.to_version, made.from_root_hash, old.version,
                   image.version, old.usr_root_hash);
    }
    if (fs::path(made.path) != staging.path() / name) {
      fs::rename(made.path, staging.path() / name, ec);
      if (ec) return Failf(ErrorKind::kIo, "move {}: {}", made.path, ec.message());
    }
    BASALT_ASSIGN_OR_RETURN(PayloadRef delta, Describe(staging.path() / name, url_prefix + name));
    delta.kind = PayloadKind::kDelta;
    delta.from_version = old.version;
    delta.from_root_hash = old.usr_root_hash;
    rel.payloads.push_back(delta);
  }

  std::string body = SerializeRelease(rel);
  // Our own serializer must produce what every host's strict parser accepts.
  BASALT_ASSIGN_OR_RETURN(Release check, ParseRelease(body));
  if (!(check == rel)) return Fail(ErrorKind::kInternal, "release document does not round-trip");
  BASALT_ASSIGN_OR_RETURN(std::string envelope, SignEnvelope(kReleasePayloadType, body, keys));
  BASALT_RETURN_IF_ERROR(WriteFileAtomic((staging.path() / "release.json").string(), envelope));
  BASALT_RETURN_IF_ERROR(FsyncDirectory(staging.path().string()));
  // rename(2) of a directory onto an existing non-empty one fails, so a concurrent publish of
  // the same version cannot overwrite the winner.
  if (::rename(staging.path().c_str(), final_dir.c_str()) != 0) {
    if (errno == ENOTEMPTY || errno == EEXIST) {
      return Failf(ErrorKind::kPolicy, "release {} already exists; releases are immutable",
                   image.version);
    }
    return FailErrno("rename " + staging.path().string());
  }
  staging.Commit();
  BASALT_RETURN_IF_ERROR(FsyncDirectory(releases.string()));
  log.Info(fmt::format("published release {} with {} payload(s)", rel.version, rel.payloads.size()),
           {{"BASALT_VERSION", rel.version}});
  return rel;
}

}  // namespace basalt::repo
