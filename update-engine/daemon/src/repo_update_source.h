// UpdateSource over the static signed repository: the channel decision (repo::Decide) with the
// host's keyring, turned into an UpdateOffer. Waits ("paused", "outside-wave", ...) come back as
// offers without an update; refusals (bad signature, expired, replay, downgrade) as errors, so the
// flow records them as the last error and changes nothing.
#pragma once

#include <functional>
#include <string>

#include "common/time_util.h"
#include "daemon/host_trust.h"
#include "daemon/update_source.h"
#include "http/fetcher.h"

namespace basalt::update {

class RepositoryUpdateSource : public UpdateSource {
 public:
  // With a root, each check first follows the repository's root rotations (HostTrust::Refresh).
  RepositoryUpdateSource(http::Fetcher& fetcher, std::string base, HostTrust& trust,
                         std::function<TimePoint()> now = Now)
      : fetcher_(fetcher), base_(std::move(base)), trust_(trust), now_(std::move(now)) {}

  Result<UpdateOffer> Check(const HostFacts& host) override;
  Status Report(const HostFacts&, UpdateEvent, int) override { return {}; }

 private:
  http::Fetcher& fetcher_;
  std::string base_;
  HostTrust& trust_;
  std::function<TimePoint()> now_;
};

}  // namespace basalt::update
