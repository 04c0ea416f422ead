// UpdateSource over the static signed repository: the channel decision (repo::Decide) with the
// host's keyring, turned into an UpdateOffer. Waits ("paused", "outside-wave", ...) come back as
// offers without an update; refusals (bad signature, expired, replay, downgrade) as errors, so the
// flow records them as the last error and changes nothing.
#pragma once

#include <functional>
#include <string>

#include "common/keyring.h"
#include "common/time_util.h"
#include "daemon/update_source.h"
#include "http/fetcher.h"

namespace basalt::update {

class RepositoryUpdateSource : public UpdateSource {
 public:
  RepositoryUpdateSource(http::Fetcher& fetcher, std::string base, const Keyring& keys,
                         size_t threshold = 1, std::function<TimePoint()> now = Now)
      : fetcher_(fetcher),
        base_(std::move(base)),
        keys_(keys),
        threshold_(threshold),
        now_(std::move(now)) {}

  Result<UpdateOffer> Check(const HostFacts& host) override;
  Status Report(const HostFacts&, UpdateEvent, int) override { return {}; }

 private:
  http::Fetcher& fetcher_;
  std::string base_;
  const Keyring& keys_;
  size_t threshold_;
  std::function<TimePoint()> now_;
};

}  // namespace basalt::update
