#include "repo/repo_verify.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>

#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "repo/channel.h"
#include "repo/dsse.h"
#include "repo/names.h"
#include "repo/release.h"
#include "repo/root_files.h"
#include "repo/trust.h"

namespace basalt::repo {
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> SortedEntries(const fs::path& dir, std::error_code& ec) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir, ec))
    out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// VerifyRepository's passes over the tree; each problem found is added to the report, and a
// pass goes on after a problem so the operator sees all of them at once.
class RepositoryVerifier {
 public:
  RepositoryVerifier(const std::string& repo_dir, Trust trust, TimePoint now,
                     std::chrono::seconds warn_expiry, const SignedRoot* first = nullptr,
                     size_t min_threshold = 1)
      : repo_dir_(repo_dir),
        repo_(repo_dir),
        trust_(std::move(trust)),
        now_(now),
        warn_expiry_(warn_expiry),
        first_(first),
        min_threshold_(min_threshold) {}

  VerifyReport Run() {
    std::error_code ec;
    if (!fs::is_directory(repo_, ec)) {
      Problem(fmt::format("{}: not a directory", repo_dir_));
      return std::move(report_);
    }
    if (first_ != nullptr) VerifyRoots();
    VerifyReleases();
    CheckDeltaSources();
    VerifyChannels();
    if (report_.releases == 0 && report_.channels == 0) {
      Problem(fmt::format("{}: no releases/ or channels/ found; is this a repository?", repo_dir_));
    }
    return std::move(report_);
  }

 private:
  void Problem(std::string message) { report_.problems.push_back(std::move(message)); }

  // The chain from the host's first root, then the documents against the newest root's roles.
  void VerifyRoots() {
    DirectoryRoots roots((repo_ / "roots").string());
    auto update = UpdateRoot(
        *first_, roots, now_, [](const SignedRoot&) -> Status { return {}; }, min_threshold_);
    if (!update) {
      Problem(fmt::format("roots/: {}", update.error().message()));
      return;
    }
    if (update->refusal) {
      Problem(fmt::format("roots/: hosts refuse it ({}): {}", update->refusal->code,
                          update->refusal->reason));
    }
    const SignedRoot& newest = update->root;
    trust_ = Trust::FromRoot(newest.root, min_threshold_);
    auto copy = ReadFileToString((repo_ / "root.json").string());
    if (!copy || *copy != newest.envelope) {
      Problem(fmt::format("root.json: not the newest root (roots/{}.json)", newest.root.version));
    }
    std::error_code ec;
    for (const fs::path& f : SortedEntries(repo_ / "roots", ec)) {
      uint64_t v = 0;
      const std::string stem = f.stem().string();
      if (f.extension() != ".json" ||
          std::from_chars(stem.data(), stem.data() + stem.size(), v).ptr !=
              stem.data() + stem.size() ||
          v == 0 || v > newest.root.version) {
        Problem(fmt::format("roots/{}: not part of the chain hosts follow (newest is {})",
                            f.filename().string(), newest.root.version));
      }
    }
  }

  void CheckRepository(const std::string& where, const std::optional<std::string>& repository) {
    if (trust_.repository.empty() || repository == trust_.repository) return;
    Problem(fmt::format("{}: names repository \"{}\", the root names \"{}\"; hosts refuse it",
                        where, repository.value_or(""), trust_.repository));
  }

  void VerifyReleases() {
    std::error_code ec;
    fs::path rel_dir = repo_ / "releases";
    if (!fs::is_directory(rel_dir, ec)) return;
    for (const fs::path& dir : SortedEntries(rel_dir, ec)) {
      std::string where = fmt::format("releases/{}", dir.filename().string());
      if (!fs::is_directory(dir, ec)) {
        Problem(
            fmt::format("{}: unexpected file (releases/ holds only version directories)", where));
        continue;
      }
      if (dir.filename().string().starts_with(".staging-")) {
        Problem(fmt::format("{}: leftover of an interrupted publish; remove it", where));
        continue;
      }
      ++report_.releases;
      VerifyReleaseDir(dir, where);
    }
  }

  // releases/<version>/: a release.json signed for that version, every payload it names present
  // with the signed size and digest, the SBOM with its signed digest, and nothing else.
  void VerifyReleaseDir(const fs::path& dir, const std::string& where) {
    const std::string version = dir.filename().string();
    if (auto s = CheckVersion(version, where); !s) {
      Problem(s.error().message());
      return;
    }
    auto rel = OpenDocument<Release>((dir / "release.json").string(), where + "/release.json",
                                     kReleasePayloadType, ParseRelease);
    if (!rel) return;
    if (rel->version != version) {
      Problem(fmt::format("{}/release.json: signed for version {}, stored under {}", where,
                          rel->version, version));
    }
    CheckRepository(where + "/release.json", rel->repository);
    std::set<std::string> referenced = {"release.json"};
    for (const PayloadRef& p : rel->payloads) {
      ++report_.payloads;
      if (fs::path(p.url).parent_path() == fs::path(where)) {
        referenced.insert(fs::path(p.url).filename().string());
      }
      CheckPayloadFile(p, where);
    }
    std::error_code ec;
    if (fs::exists(dir / "sbom.spdx.json", ec)) {
      referenced.insert("sbom.spdx.json");
      auto digest = Sha256File((dir / "sbom.spdx.json").string());
      if (!digest || ToHex(*digest) != rel->sbom_sha256) {
        Problem(
            fmt::format("{}/sbom.spdx.json: SHA-256 does not match the signed sbom_sha256", where));
      }
    }
    for (const fs::path& f : SortedEntries(dir, ec)) {
      if (!referenced.contains(f.filename().string())) {
        Problem(fmt::format("{}/{}: not referenced by the signed release", where,
                            f.filename().string()));
      }
    }
    if (rel->version == version) releases_.emplace(version, std::move(*rel));
  }

  void CheckPayloadFile(const PayloadRef& p, const std::string& where) {
    fs::path file = repo_ / p.url;
    std::error_code ec;
    uint64_t size = fs::file_size(file, ec);
    if (ec) {
      Problem(
          fmt::format("{}: named by {}/release.json but missing: {}", p.url, where, ec.message()));
      return;
    }
    if (size != p.size) {
      Problem(fmt::format("{}: {} bytes, {}/release.json says {}", p.url, size, where, p.size));
      return;
    }
    auto digest = Sha256File(file.string());
    if (!digest) {
      Problem(fmt::format("{}: {}", p.url, digest.error().message()));
    } else if (ToHex(*digest) != p.sha256) {
      Problem(fmt::format("{}: SHA-256 {} does not match the signed {}", p.url, ToHex(*digest),
                          p.sha256));
    }
  }

  // Deltas must start from the root hash that hosts on the source version really have.
  void CheckDeltaSources() {
    for (const auto& [version, rel] : releases_) {
      for (const PayloadRef& p : rel.payloads) {
        if (p.kind != PayloadKind::kDelta) continue;
        auto it = releases_.find(p.from_version);
        if (it != releases_.end() && it->second.usr.root_hash != p.from_root_hash) {
          Problem(fmt::format("{}: delta from {} expects root hash {}, but release {} has {}",
                              p.url, p.from_version, p.from_root_hash, p.from_version,
                              it->second.usr.root_hash));
        }
      }
    }
  }

  void VerifyChannels() {
    std::error_code ec;
    fs::path ch_dir = repo_ / "channels";
    if (!fs::is_directory(ch_dir, ec)) return;
    for (const fs::path& file : SortedEntries(ch_dir, ec)) {
      std::string where = fmt::format("channels/{}", file.filename().string());
      // channels/history/ holds the operator's copies of earlier documents (`channel history`);
      // hosts never read them, so they are not channels.
      if (file.filename() == "history" && fs::is_directory(file, ec)) continue;
      if (file.extension() != ".json") {
        Problem(fmt::format("{}: unexpected file (channels/ holds only <name>.json)", where));
        continue;
      }
      ++report_.channels;
      VerifyChannelFile(file, where);
    }
  }

  // channels/<name>.json: signed for that name, not expired, and naming verified releases.
  void VerifyChannelFile(const fs::path& file, const std::string& where) {
    auto ch = OpenDocument<Channel>(file.string(), where, kChannelPayloadType, ParseChannel);
    if (!ch) return;
    if (ch->name != file.stem().string()) {
      Problem(fmt::format("{}: signed for channel {}", where, ch->name));
    }
    CheckRepository(where, ch->repository);
    if (now_ >= ch->expires) {
      Problem(fmt::format("{}: expired at {}; hosts refuse it until it is re-signed", where,
                          FormatTime(ch->expires)));
    } else if (ch->expires - now_ <= warn_expiry_) {
      // Not wrong yet, but hosts stop updating at expiry: say so while there is time to renew.
      report_.warnings.push_back(fmt::format(
          "{}: expires at {} (in {}); renew it with `basalt channel renew`", where,
          FormatTime(ch->expires),
          FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(ch->expires - now_))));
    }
    if (!releases_.contains(ch->release)) {
      Problem(fmt::format("{}: names release {}, which is not a verified release here", where,
                          ch->release));
    } else if (ch->release_sha256) {
      // Hosts refuse the release unless its document is exactly the one the channel names.
      auto text = ReadFileToString((repo_ / "releases" / ch->release / "release.json").string());
      auto env = text ? ParseEnvelope(*text) : Result<Envelope>(std::unexpected(text.error()));
      if (!env || ToHex(Sha256(env->payload)) != *ch->release_sha256) {
        Problem(
            fmt::format("{}: bound to release document {}, but releases/{}/release.json is "
                        "another document; hosts refuse it (re-run `basalt channel set`)",
                        where, *ch->release_sha256, ch->release));
      }
    }
    if (ch->floor) {
      if (!releases_.contains(*ch->floor)) {
        Problem(fmt::format("{}: floor {} is not a verified release here", where, *ch->floor));
      }
      if (CompareVersions(*ch->floor, ch->release) >= 0) {
        Problem(fmt::format("{}: floor {} is not older than release {}", where, *ch->floor,
                            ch->release));
      }
    }
  }

  // Reads, opens (signatures) and parses a document, or records why not.
  template <typename T>
  std::optional<T> OpenDocument(const std::string& path, const std::string& where,
                                std::string_view type, Result<T> (*parse)(std::string_view)) {
    auto text = ReadFileToString(path);
    if (!text) {
      Problem(fmt::format("{}: {}", where, text.error().message()));
      return std::nullopt;
    }
    const bool channel = type == kChannelPayloadType;
    auto body = OpenVerified(*text, type, channel ? trust_.channel_keys : trust_.release_keys,
                             channel ? trust_.channel_threshold : trust_.release_threshold);
    if (!body) {
      Problem(fmt::format("{}: {}", where, body.error().message()));
      return std::nullopt;
    }
    auto doc = parse(*body);
    if (!doc) {
      Problem(fmt::format("{}: {}", where, doc.error().message()));
      return std::nullopt;
    }
    return std::move(*doc);
  }

  const std::string& repo_dir_;
  fs::path repo_;
  Trust trust_;
  TimePoint now_;
  std::chrono::seconds warn_expiry_;
  const SignedRoot* first_;
  size_t min_threshold_;
  VerifyReport report_;
  std::map<std::string, Release> releases_;  // those whose release.json verified
};

}  // namespace

VerifyReport VerifyRepository(const std::string& repo_dir, const Keyring& keys, size_t threshold,
                              TimePoint now, std::chrono::seconds warn_expiry) {
  return RepositoryVerifier(repo_dir, Trust::FromKeyring(keys, threshold), now, warn_expiry).Run();
}

VerifyReport VerifyRepository(const std::string& repo_dir, const SignedRoot& first,
                              size_t threshold, TimePoint now, std::chrono::seconds warn_expiry) {
  return RepositoryVerifier(repo_dir, Trust::FromRoot(first.root, threshold), now, warn_expiry,
                            &first, threshold)
      .Run();
}

}  // namespace basalt::repo
