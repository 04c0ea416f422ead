// PROTOCOL=omaha: the host learns *what* to install from a Nebraska-style Omaha v3 server, as
// Flatcar's update_engine does, and reports progress events back to it. Trust is unchanged:
// the offered payload is applied only if it carries a valid Basalt signature by a key in the
// host's keyring (the applier checks that; this class never vouches for a payload).
#pragma once

#include <memory>
#include <string>

#include "daemon/update_source.h"
#include "http/fetcher.h"

namespace basalt::fleet {

struct OmahaConfig {
  std::string server;  // e.g. https://nebraska.example.com/v1/update/
  std::string app_id;  // used when HostFacts.app_id is empty
  std::string platform = "Basalt";
  std::string board = "amd64-usr";
  // Payload URLs must be https:// unless this is set (OMAHA_INSECURE_HTTP_FOR_TESTING=yes).
  bool allow_insecure_http = false;
};

// Omaha error codes Basalt sends with event 3/0 when the daemon gives none (error_code 0).
inline constexpr int kOmahaErrorUpdateFailed = 1;
inline constexpr int kOmahaErrorRolledBack = 2000;

class OmahaUpdateSource : public update::UpdateSource {
 public:
  // fetcher: nullptr builds a curl fetcher; tests and the daemon may share theirs.
  OmahaUpdateSource(OmahaConfig config, std::unique_ptr<http::Fetcher> fetcher = {});

  Result<update::UpdateOffer> Check(const update::HostFacts& host) override;
  Status Report(const update::HostFacts& host, update::UpdateEvent event, int error_code) override;

 private:
  std::string AppId(const update::HostFacts& host) const;

  OmahaConfig config_;
  std::unique_ptr<http::Fetcher> fetcher_;
};

}  // namespace basalt::fleet
