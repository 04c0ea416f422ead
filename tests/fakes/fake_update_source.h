// An UpdateSource that answers checks from a script and records what it is told: the host facts
// of every check and every progress report (the Omaha events). Thread-safe: the daemon checks
// and reports from its worker thread.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "daemon/update_source.h"

namespace basalt::fakes {

struct RecordedReport {
  update::HostFacts host;
  update::UpdateEvent event;
  int error_code = 0;
};

class FakeUpdateSource : public update::UpdateSource {
 public:
  // The next Check answers `offer` (or fails with its error). Once the script is used up, checks
  // answer "up-to-date".
  void QueueOffer(Result<update::UpdateOffer> offer);
  // The next Report fails with `error` (it is still recorded).
  void FailNextReport(Error error);
  // Runs inside Check before it answers (a test may block there to catch the flow mid-run).
  void set_on_check(std::function<void()> f);

  Result<update::UpdateOffer> Check(const update::HostFacts& host) override;
  Status Report(const update::HostFacts& host, update::UpdateEvent event, int error_code) override;

  std::vector<update::HostFacts> checks() const;
  std::vector<RecordedReport> reports() const;
  std::vector<update::UpdateEvent> events() const;

 private:
  mutable std::mutex mu_;
  std::deque<Result<update::UpdateOffer>> offers_;
  std::optional<Error> fail_next_report_;
  std::function<void()> on_check_;
  std::vector<update::HostFacts> checks_;
  std::vector<RecordedReport> reports_;
};

// An offer of `version` with one full payload at `url`.
update::UpdateOffer FullOffer(const std::string& version, const std::string& url, uint64_t size,
                              const std::string& sha256);

}  // namespace basalt::fakes
