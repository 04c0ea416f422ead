#include "guard/fleet_sample.h"

#include "common/time_util.h"

namespace basalt::guard {
namespace {

// Adds each sample's value to `same` or `other` by whether its `label` names the release. A
// series without the label is the server answering another question: refused.
Status Split(const std::vector<PromSample>& samples, std::string_view label,
             std::string_view release, double& same, double& other) {
  for (const auto& s : samples) {
    auto it = s.labels.find(std::string(label));
    if (it == s.labels.end()) {
      return Failf(ErrorKind::kInvalidInput, "a series without the label {}", label);
    }
    (it->second == release ? same : other) += s.value;
  }
  return {};
}

}  // namespace

FleetQueries QueriesFor(std::string_view channel, std::string_view release) {
  auto ch = PromQuote(channel);
  auto rel = PromQuote(release);
  FleetQueries q;
  q.hosts_by_version =
      fmt::format("count by (current_version) (basalt_update_info{{channel={}}})", ch);
  q.rollbacks_by_release =
      fmt::format("count by (release) (basalt_update_rolled_back_release{{channel={}}})", ch);
  // Hosts whose last attempt was the release and that are idle on another one: the attempt
  // failed and was given up (a network fault keeps the plan and the state, so a host still
  // retrying a download is not counted). Those that rolled back are counted once, as rollbacks.
  q.new_failing = fmt::format(
      "count(((basalt_update_attempt_info{{release={1}}} and on (instance) "
      "basalt_update_info{{channel={0},current_version!={1}}}) and on (instance) "
      "(basalt_update_state{{state=\"idle\"}} == 1)) unless on (instance) "
      "basalt_update_rolled_back_release{{channel={0},release={1}}})",
      ch, rel);
  return q;
}

Result<FleetSample> SampleFromAnswers(std::string_view release,
                                      const std::vector<PromSample>& hosts_by_version,
                                      const std::vector<PromSample>& rollbacks_by_release,
                                      const std::vector<PromSample>& new_failing) {
  FleetSample s;
  BASALT_RETURN_IF_ERROR(
      Split(hosts_by_version, "current_version", release, s.new_hosts, s.old_hosts));
  BASALT_RETURN_IF_ERROR(
      Split(rollbacks_by_release, "release", release, s.new_rollbacks, s.old_rollbacks));
  if (new_failing.size() > 1) {
    return Failf(ErrorKind::kInvalidInput, "{} series for one count", new_failing.size());
  }
  if (!new_failing.empty()) s.new_failing = new_failing[0].value;
  return s;
}

Result<FleetSample> ReadFleetSample(http::Fetcher& fetcher, std::string_view prometheus,
                                    std::string_view channel, std::string_view release) {
  auto q = QueriesFor(channel, release);
  BASALT_ASSIGN_OR_RETURN(auto hosts, QueryVector(fetcher, prometheus, q.hosts_by_version));
  BASALT_ASSIGN_OR_RETURN(auto rollbacks, QueryVector(fetcher, prometheus, q.rollbacks_by_release));
  BASALT_ASSIGN_OR_RETURN(auto failing, QueryVector(fetcher, prometheus, q.new_failing));
  auto s = SampleFromAnswers(release, hosts, rollbacks, failing);
  if (!s) return std::unexpected(s.error().WithContext("fleet sample"));
  return s;
}

}  // namespace basalt::guard
