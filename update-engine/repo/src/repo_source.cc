#include "repo/repo_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "repo/dsse.h"
#include "repo/names.h"

namespace basalt::repo {

Result<std::string> RepositorySource::FetchChannel(std::string_view name) {
  BASALT_RETURN_IF_ERROR(CheckChannelName(name, "channel"));
  BASALT_ASSIGN_OR_RETURN(std::string url,
                          http::RepositoryUrl(base_, fmt::format("channels/{}.json", name)));
  return fetcher_.Get(url, kMaxEnvelopeSize);
}

Result<std::string> RepositorySource::FetchRelease(std::string_view version) {
  BASALT_RETURN_IF_ERROR(CheckVersion(version, "release"));
  BASALT_ASSIGN_OR_RETURN(
      std::string url,
      http::RepositoryUrl(base_, fmt::format("releases/{}/release.json", version)));
  return fetcher_.Get(url, kMaxEnvelopeSize);
}

Result<std::optional<std::string>> RepositorySource::FetchRoot(uint64_t version) {
  BASALT_ASSIGN_OR_RETURN(std::string url,
                          http::RepositoryUrl(base_, fmt::format("roots/{}.json", version)));
  auto text = fetcher_.Get(url, kMaxEnvelopeSize);
  if (!text) {
    if (text.error().kind() == ErrorKind::kNotFound) return std::optional<std::string>();
    return std::unexpected(std::move(text).error());
  }
  return std::optional<std::string>(std::move(*text));
}

Result<std::string> RepositorySource::PayloadUrl(const PayloadRef& payload) const {
  BASALT_RETURN_IF_ERROR(CheckRelativeUrl(payload.url, "payload url"));
  return http::RepositoryUrl(base_, payload.url);
}

Status DownloadPayload(http::Fetcher& fetcher, const std::string& url, const PayloadRef& expected,
                       const std::string& dest) {
  std::string part = dest + ".part";
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(part, O_RDWR | O_CREAT, 0600));
  BASALT_ASSIGN_OR_RETURN(uint64_t have, FileOrDeviceSize(fd.get(), part));
  if (have > expected.size) {
    if (::ftruncate(fd.get(), 0) != 0) return FailErrno("truncate " + part);
    have = 0;
  }
  // Re-hash what is already there: cheaper than re-downloading, and the final digest must
  // cover every byte.
  Hasher hasher(HashAlgorithm::kSha256);
  {
    std::vector<uint8_t> buf(1 << 20);
    uint64_t pos = 0;
    while (pos < have) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), have - pos));
      BASALT_RETURN_IF_ERROR(PreadFull(fd.get(), std::span(buf.data(), n), pos, part));
      hasher.Update(std::span(buf.data(), n));
      pos += n;
    }
  }
  uint64_t pos = have;
  if (have < expected.size) {
    http::ByteSink sink = [&](std::span<const uint8_t> d) -> Status {
      BASALT_RETURN_IF_ERROR(PwriteFull(fd.get(), d, pos, part));
      hasher.Update(d);
      pos += d.size();
      return {};
    };
    auto got = fetcher.GetRange(url, have, expected.size - have, sink);
    if (!got) {
      // Size inflation is an attack, not a network fault: nothing of it is kept.
      if (got.error().kind() == ErrorKind::kIntegrity) ::unlink(part.c_str());
      return std::unexpected(std::move(got).error());
    }
  }
  Sha256Digest digest;
  hasher.Final(digest.data());
  if (auto s = CheckPayloadDigest(expected, pos, ToHex(digest)); !s) {
    // A short file may still be completed by a later resume; a wrong one never will.
    if (pos == expected.size) ::unlink(part.c_str());
    return s;
  }
  if (::fsync(fd.get()) != 0) return FailErrno("fsync " + part);
  if (::rename(part.c_str(), dest.c_str()) != 0) return FailErrno("rename " + part);
  return FsyncDirectory(std::filesystem::path(dest).parent_path().string().empty()
                            ? std::string(".")
                            : std::filesystem::path(dest).parent_path().string());
}

}  // namespace basalt::repo
