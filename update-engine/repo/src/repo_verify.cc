#include "repo/repo_verify.h"

#include <algorithm>
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

}  // namespace

VerifyReport VerifyRepository(const std::string& repo_dir, const Keyring& keys, size_t threshold,
                              TimePoint now) {
  VerifyReport report;
  auto problem = [&](std::string msg) { report.problems.push_back(std::move(msg)); };
  fs::path repo(repo_dir);
  std::error_code ec;
  if (!fs::is_directory(repo, ec)) {
    problem(fmt::format("{}: not a directory", repo_dir));
    return report;
  }

  std::map<std::string, Release> releases;  // those whose release.json verified
  fs::path rel_dir = repo / "releases";
  if (fs::is_directory(rel_dir, ec)) {
    for (const fs::path& dir : SortedEntries(rel_dir, ec)) {
      std::string version = dir.filename().string();
      std::string where = fmt::format("releases/{}", version);
      if (!fs::is_directory(dir, ec)) {
        problem(
            fmt::format("{}: unexpected file (releases/ holds only version directories)", where));
        continue;
      }
      if (version.starts_with(".staging-")) {
        problem(fmt::format("{}: leftover of an interrupted publish; remove it", where));
        continue;
      }
      ++report.releases;
      if (auto s = CheckVersion(version, where); !s) {
        problem(s.error().message());
        continue;
      }
      auto text = ReadFileToString((dir / "release.json").string());
      if (!text) {
        problem(fmt::format("{}/release.json: {}", where, text.error().message()));
        continue;
      }
      auto body = OpenVerified(*text, kReleasePayloadType, keys, threshold);
      if (!body) {
        problem(fmt::format("{}/release.json: {}", where, body.error().message()));
        continue;
      }
      auto rel = ParseRelease(*body);
      if (!rel) {
        problem(fmt::format("{}/release.json: {}", where, rel.error().message()));
        continue;
      }
      if (rel->version != version) {
        problem(fmt::format("{}/release.json: signed for version {}, stored under {}", where,
                            rel->version, version));
      }
      std::set<std::string> referenced = {"release.json"};
      for (const PayloadRef& p : rel->payloads) {
        ++report.payloads;
        fs::path file = repo / p.url;
        if (fs::path(p.url).parent_path() == fs::path(where)) {
          referenced.insert(fs::path(p.url).filename().string());
        }
        uint64_t size = fs::file_size(file, ec);
        if (ec) {
          problem(fmt::format("{}: named by {}/release.json but missing: {}", p.url, where,
                              ec.message()));
          continue;
        }
        if (size != p.size) {
          problem(fmt::format("{}: {} bytes, {}/release.json says {}", p.url, size, where, p.size));
          continue;
        }
        auto digest = Sha256File(file.string());
        if (!digest) {
          problem(fmt::format("{}: {}", p.url, digest.error().message()));
        } else if (ToHex(*digest) != p.sha256) {
          problem(fmt::format("{}: SHA-256 {} does not match the signed {}", p.url, ToHex(*digest),
                              p.sha256));
        }
      }
      if (fs::exists(dir / "sbom.spdx.json", ec)) {
        referenced.insert("sbom.spdx.json");
        auto digest = Sha256File((dir / "sbom.spdx.json").string());
        if (!digest || ToHex(*digest) != rel->sbom_sha256) {
          problem(fmt::format("{}/sbom.spdx.json: SHA-256 does not match the signed sbom_sha256",
                              where));
        }
      }
      for (const fs::path& f : SortedEntries(dir, ec)) {
        if (!referenced.contains(f.filename().string())) {
          problem(fmt::format("{}/{}: not referenced by the signed release", where,
                              f.filename().string()));
        }
      }
      if (rel->version == version) releases.emplace(version, std::move(*rel));
    }
  }
  // Deltas must start from the root hash that hosts on the source version really have.
  for (const auto& [version, rel] : releases) {
    for (const PayloadRef& p : rel.payloads) {
      if (p.kind != PayloadKind::kDelta) continue;
      auto it = releases.find(p.from_version);
      if (it != releases.end() && it->second.usr.root_hash != p.from_root_hash) {
        problem(fmt::format("{}: delta from {} expects root hash {}, but release {} has {}", p.url,
                            p.from_version, p.from_root_hash, p.from_version,
                            it->second.usr.root_hash));
      }
    }
  }

  fs::path ch_dir = repo / "channels";
  if (fs::is_directory(ch_dir, ec)) {
    for (const fs::path& file : SortedEntries(ch_dir, ec)) {
      std::string where = fmt::format("channels/{}", file.filename().string());
      if (file.extension() != ".json") {
        problem(fmt::format("{}: unexpected file (channels/ holds only <name>.json)", where));
        continue;
      }
      ++report.channels;
      std::string name = file.stem().string();
      auto text = ReadFileToString(file.string());
      if (!text) {
        problem(fmt::format("{}: {}", where, text.error().message()));
        continue;
      }
      auto body = OpenVerified(*text, kChannelPayloadType, keys, threshold);
      if (!body) {
        problem(fmt::format("{}: {}", where, body.error().message()));
        continue;
      }
      auto ch = ParseChannel(*body);
      if (!ch) {
        problem(fmt::format("{}: {}", where, ch.error().message()));
        continue;
      }
      if (ch->name != name) {
        problem(fmt::format("{}: signed for channel {}", where, ch->name));
      }
      if (now >= ch->expires) {
        problem(fmt::format("{}: expired at {}; hosts refuse it until it is re-signed", where,
                            FormatTime(ch->expires)));
      }
      if (!releases.contains(ch->release)) {
        problem(fmt::format("{}: names release {}, which is not a verified release here", where,
                            ch->release));
      }
      if (ch->floor) {
        if (!releases.contains(*ch->floor)) {
          problem(fmt::format("{}: floor {} is not a verified release here", where, *ch->floor));
        }
        if (CompareVersions(*ch->floor, ch->release) >= 0) {
          problem(fmt::format("{}: floor {} is not older than release {}", where, *ch->floor,
                              ch->release));
        }
      }
    }
  }
  if (report.releases == 0 && report.channels == 0) {
    problem(fmt::format("{}: no releases/ or channels/ found; is this a repository?", repo_dir));
  }
  return report;
}

}  // namespace basalt::repo
