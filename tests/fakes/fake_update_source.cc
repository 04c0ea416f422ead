#include "fakes/fake_update_source.h"

namespace basalt::fakes {

update::UpdateOffer FullOffer(const std::string& version, const std::string& url, uint64_t size,
                              const std::string& sha256) {
  update::UpdateOffer o;
  o.update = true;
  o.version = version;
  o.reason = "fake: a newer version";
  update::OfferedPayload p;
  p.urls = {url};
  p.size = size;
  p.sha256 = sha256;
  o.payloads.push_back(p);
  return o;
}

void FakeUpdateSource::QueueOffer(Result<update::UpdateOffer> offer) {
  std::lock_guard lock(mu_);
  offers_.push_back(std::move(offer));
}

void FakeUpdateSource::FailNextReport(Error error) {
  std::lock_guard lock(mu_);
  fail_next_report_ = std::move(error);
}

void FakeUpdateSource::set_on_check(std::function<void()> f) {
  std::lock_guard lock(mu_);
  on_check_ = std::move(f);
}

Result<update::UpdateOffer> FakeUpdateSource::Check(const update::HostFacts& host) {
  std::function<void()> hook;
  {
    std::lock_guard lock(mu_);
    checks_.push_back(host);
    hook = on_check_;
  }
  if (hook) hook();
  std::lock_guard lock(mu_);
  if (offers_.empty()) {
    update::UpdateOffer none;
    none.code = "up-to-date";
    none.reason = "fake: up to date";
    return none;
  }
  Result<update::UpdateOffer> next = std::move(offers_.front());
  offers_.pop_front();
  return next;
}

Status FakeUpdateSource::Report(const update::HostFacts& host, update::UpdateEvent event,
                                int error_code) {
  std::lock_guard lock(mu_);
  reports_.push_back(RecordedReport{host, event, error_code});
  if (fail_next_report_) {
    Error e = std::move(*fail_next_report_);
    fail_next_report_.reset();
    return std::unexpected(std::move(e));
  }
  return {};
}

std::vector<update::HostFacts> FakeUpdateSource::checks() const {
  std::lock_guard lock(mu_);
  return checks_;
}

std::vector<RecordedReport> FakeUpdateSource::reports() const {
  std::lock_guard lock(mu_);
  return reports_;
}

std::vector<update::UpdateEvent> FakeUpdateSource::events() const {
  std::vector<update::UpdateEvent> out;
  for (const auto& r : reports())
    out.push_back(r.event);
  return out;
}

}  // namespace basalt::fakes
