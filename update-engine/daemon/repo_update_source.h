// UpdateSource over the static signed repository: the channel decision (repo::Decide) with the
// host's keyring, turned into an UpdateOffer. Waits ("paused", "outside-wave", ...) come back as
// offers without an update; refusals (bad signature, expired, replay, downgrade) as errors, so the
// flow records them as the last error and changes nothing.
#pragma once

#include <functional>
#include <string>

#include "common/keyring.h"
#include "update-engine/daemon/update_source.h"
#include "update-engine/repo/fetcher.h"
#include "update-engine/repo/time_util.h"

namespace basalt::update {

class RepositoryUpdateSource : public UpdateSource {
 public:
  RepositoryUpdateSource(repo::Fetcher& fetcher, std::string base, const Keyring& keys,
                         size_t threshold = 1, std::function<repo::TimePoint()> now = repo::Now)
      : fetcher_(fetcher),
        base_(std::move(base)),
        keys_(keys),
        threshold_(threshold),
        now_(std::move(now)) {}

  Result<UpdateOffer> Check(const HostFacts& host) override;
  Status Report(const HostFacts&, UpdateEvent, int) override { return {}; }

 private:
  repo::Fetcher& fetcher_;
  std::string base_;
  const Keyring& keys_;
  size_t threshold_;
  std::function<repo::TimePoint()> now_;
};

}  // namespace basalt::update
