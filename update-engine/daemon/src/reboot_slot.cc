#include "daemon/reboot_slot.h"

#include <fmt/format.h>

namespace basalt::update {
namespace {

// The coordinator says why in a sentence only; the strategy tells which kind of wait it is.
std::string WaitCodeOf(std::string_view strategy) {
  if (strategy == "window") return "reboot-window";
  if (strategy == "etcd-lock") return "reboot-lock";
  return "need-reboot";
}

std::string Delay(std::chrono::milliseconds d) {
  if (d < std::chrono::seconds(1)) return fmt::format("{} ms", d.count());
  return fmt::format("{} s", d.count() / 1000);
}

}  // namespace

RebootDecision RebootSlot::Ask(TimePoint now) {
  RebootDecision d;
  auto gate = coordinator_.MayReboot(now);
  if (!gate) {
    // Never reboot without the gate: wait, and ask again after a growing pause.
    d.retry_in = backoff_.Next();
    next_ask_ = now + d.retry_in;
    d.wait_reason = gate.error().message() + "; not rebooting, retrying";
    d.wait_reason_code = "reboot-gate-unreachable";
    d.error = std::move(gate).error();
    return d;
  }
  backoff_.Reset();
  release_pending_ = false;
  d.reboot_now = gate->reboot_now;
  d.wait_reason = std::move(gate->wait_reason);
  if (!d.reboot_now) d.wait_reason_code = WaitCodeOf(coordinator_.strategy());
  return d;
}

bool RebootSlot::Release(TimePoint now) {
  auto r = coordinator_.AfterBoot();
  if (!r) {
    release_retry_in_ = backoff_.Next();
    release_pending_ = true;
    next_release_ = now + release_retry_in_;
    log_.Warn(fmt::format("cannot give back the reboot slot ({}); retrying in {}",
                          r.error().message(), Delay(release_retry_in_)),
              {{"ERROR", r.error().message()}});
    release_error_ = std::move(r).error();
    return false;
  }
  backoff_.Reset();
  release_pending_ = false;
  release_error_.reset();
  return true;
}

Status RebootSlot::ReleaseWithin(std::chrono::seconds wait,
                                 const std::function<void(std::chrono::milliseconds)>& sleep) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  // A release already tried (by AfterBootSteps::MarkGood or RolledBack) waits for its retry first.
  if (!release_pending_ && Release(std::chrono::system_clock::now())) return {};
  while (release_pending_) {
    if (wait.count() > 0 && std::chrono::steady_clock::now() + release_retry_in_ > deadline) {
      return std::unexpected(release_error_.value_or(
          Error(ErrorKind::kInternal, "the reboot slot could not be given back")));
    }
    sleep(release_retry_in_);
    Release(std::chrono::system_clock::now());
  }
  return {};
}

}  // namespace basalt::update
