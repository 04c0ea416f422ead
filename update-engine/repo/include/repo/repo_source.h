// A static update repository read through a Fetcher: roots/<N>.json, channels/<name>.json,
// releases/<version>/release.json and the payloads they name.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"
#include "http/fetcher.h"
#include "repo/decision.h"
#include "repo/release.h"
#include "repo/root.h"

namespace basalt::repo {

class RepositorySource : public MetadataSource, public RootFetcher {
 public:
  // base: an http(s):// or file:// URL, or a directory path.
  RepositorySource(http::Fetcher& fetcher, std::string base)
      : fetcher_(fetcher), base_(std::move(base)) {}

  Result<std::string> FetchChannel(std::string_view name) override;
  Result<std::string> FetchRelease(std::string_view version) override;
  // nullopt when the repository has no roots/<version>.json (HTTP 404, or no such file).
  Result<std::optional<std::string>> FetchRoot(uint64_t version) override;
  Result<std::string> PayloadUrl(const PayloadRef& payload) const;

 private:
  http::Fetcher& fetcher_;
  std::string base_;
};

// Downloads a payload to dest, resuming from dest + ".part" when a previous attempt was cut
// off. Never reads more than the signed size; the file appears at dest only once its size and
// SHA-256 match the signed release (kIntegrity otherwise, and the partial file is removed).
Status DownloadPayload(http::Fetcher& fetcher, const std::string& url, const PayloadRef& expected,
                       const std::string& dest);

}  // namespace basalt::repo
