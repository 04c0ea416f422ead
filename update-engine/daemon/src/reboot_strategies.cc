#include "daemon/reboot_strategies.h"

#include <fmt/format.h>

#include <array>

#include "fleet_config.h"

namespace basalt::update {
namespace {

constexpr int kDay = 24 * 60;
constexpr int kWeek = 7 * kDay;
constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

std::tm LocalTime(std::time_t t) {
  std::tm out{};
  localtime_r(&t, &out);
  return out;
}

std::string Span(int minutes) {
  if (minutes >= 60 && minutes % 60 != 0) return fmt::format("{}h{}m", minutes / 60, minutes % 60);
  if (minutes >= 60) return fmt::format("{}h", minutes / 60);
  return fmt::format("{}m", minutes);
}

class Off : public RebootCoordinator {
 public:
  std::string_view strategy() const override { return "off"; }
  Result<RebootGate> MayReboot(std::chrono::system_clock::time_point) override {
    return RebootGate{
        false, "REBOOT_STRATEGY=off: the update is staged; reboot when convenient to use it"};
  }
  Status AfterBoot() override { return {}; }
};

class Now : public RebootCoordinator {
 public:
  std::string_view strategy() const override { return "reboot"; }
  Result<RebootGate> MayReboot(std::chrono::system_clock::time_point) override {
    return RebootGate{true, ""};
  }
  Status AfterBoot() override { return {}; }
};

class Window : public RebootCoordinator {
 public:
  Window(daemon::RebootWindow w, std::tm (*to_local)(std::time_t))
      : w_(w), to_local_(to_local ? to_local : LocalTime) {}
  std::string_view strategy() const override { return "window"; }
  Result<RebootGate> MayReboot(std::chrono::system_clock::time_point now) override {
    std::tm t = to_local_(std::chrono::system_clock::to_time_t(now));
    WindowCheck c = CheckWindow(w_, t.tm_wday, t.tm_hour * 60 + t.tm_min);
    if (c.inside) return RebootGate{true, ""};
    return RebootGate{false, fmt::format("outside the maintenance window {}; it opens in {}",
                                         DescribeWindow(w_), Span(c.minutes_until_open))};
  }
  Status AfterBoot() override { return {}; }

 private:
  daemon::RebootWindow w_;
  std::tm (*to_local_)(std::time_t);
};

}  // namespace

WindowCheck CheckWindow(const daemon::RebootWindow& w, int weekday, int minute_of_day) {
  const int now = weekday * kDay + minute_of_day;
  const int len = static_cast<int>(w.length.count() / 60);
  WindowCheck best{false, kWeek};
  for (int d = 0; d < 7; ++d) {
    if (w.weekday && *w.weekday != d) continue;
    const int start = d * kDay + w.minute_of_day;
    const int since = ((now - start) % kWeek + kWeek) % kWeek;  // minutes since it last opened
    if (since < len) return {true, 0};
    best.minutes_until_open = std::min(best.minutes_until_open, kWeek - since);
  }
  return best;
}

std::string DescribeWindow(const daemon::RebootWindow& w) {
  return fmt::format("{} {:02}:{:02} for {}", w.weekday ? kDays[*w.weekday] : "daily",
                     w.minute_of_day / 60, w.minute_of_day % 60,
                     Span(static_cast<int>(w.length.count() / 60)));
}

std::unique_ptr<RebootCoordinator> NewOffCoordinator() {
  return std::make_unique<Off>();
}
std::unique_ptr<RebootCoordinator> NewRebootNowCoordinator() {
  return std::make_unique<Now>();
}
std::unique_ptr<RebootCoordinator> NewWindowCoordinator(daemon::RebootWindow window,
                                                        std::tm (*to_local)(std::time_t)) {
  return std::make_unique<Window>(window, to_local);
}

Result<std::unique_ptr<RebootCoordinator>> MakeRebootCoordinator(const daemon::UpdateConfig& cfg,
                                                                 const std::string& machine_id,
                                                                 Logger* log) {
  switch (cfg.reboot_strategy) {
    case daemon::RebootStrategy::kOff:
      return NewOffCoordinator();
    case daemon::RebootStrategy::kReboot:
      return NewRebootNowCoordinator();
    case daemon::RebootStrategy::kWindow:
      if (!cfg.reboot_window) {
        return Fail(ErrorKind::kInvalidInput,
                    "REBOOT_STRATEGY=window needs REBOOT_WINDOW_START and REBOOT_WINDOW_LENGTH");
      }
      return NewWindowCoordinator(*cfg.reboot_window);
    case daemon::RebootStrategy::kEtcdLock: {
      if (cfg.etcd.endpoints.empty()) {
        return Fail(ErrorKind::kInvalidInput, "REBOOT_STRATEGY=etcd-lock needs ETCD_ENDPOINTS");
      }
      BASALT_ASSIGN_OR_RETURN(auto c, fleet::EtcdLockCoordinator::Create(
                                          fleet::EtcdLockConfigFrom(cfg, machine_id), log));
      return std::unique_ptr<RebootCoordinator>(std::move(c));
    }
  }
  return Fail(ErrorKind::kInternal, "unknown REBOOT_STRATEGY");
}

}  // namespace basalt::update
