#include "update_client.h"

#include <systemd/sd-bus.h>

#include <memory>

#include "daemon/dbus_api.h"

namespace basalt::update {
namespace {

struct BusDeleter {
  void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
using Bus = std::unique_ptr<sd_bus, BusDeleter>;

Result<Bus> Connect() {
  sd_bus* b = nullptr;
  int r = sd_bus_open_system(&b);
  if (r < 0) return std::unexpected(Error::FromErrno(-r, "connect to the system bus"));
  return Bus(b);
}

std::unexpected<Error> BusError(int r, sd_bus_error& e, std::string_view what) {
  std::string msg = e.message ? e.message : "";
  bool absent = e.name && (std::string_view(e.name) == SD_BUS_ERROR_SERVICE_UNKNOWN ||
                           std::string_view(e.name) == SD_BUS_ERROR_NAME_HAS_NO_OWNER);
  bool denied = e.name && std::string_view(e.name) == SD_BUS_ERROR_ACCESS_DENIED;
  // The daemon names its errors by kind (dbus_api.h): the exit code follows the kind, as offline.
  std::optional<ErrorKind> kind = e.name ? ErrorKindOfDbusError(e.name) : std::nullopt;
  sd_bus_error_free(&e);
  if (msg.empty()) msg = Error::FromErrno(-r, "").message();
  if (absent) {
    return std::unexpected(Error(ErrorKind::kNotFound,
                                 fmt::format("{}: basalt-updated is not running ({})", what, msg)));
  }
  if (denied) kind = ErrorKind::kPolicy;
  return std::unexpected(Error(kind.value_or(ErrorKind::kIo), fmt::format("{}: {}", what, msg)));
}

Result<std::string> GetString(sd_bus* bus, const char* name) {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  char* value = nullptr;
  int r = sd_bus_get_property_string(bus, std::string(kBusName).c_str(),
                                     std::string(kObjectPath).c_str(),
                                     std::string(kInterface).c_str(), name, &e, &value);
  if (r < 0) return BusError(r, e, fmt::format("read {}", name));
  std::string out = value ? value : "";
  free(value);
  return out;
}

Result<uint64_t> GetU64(sd_bus* bus, const char* name) {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  uint64_t v = 0;
  int r = sd_bus_get_property_trivial(bus, std::string(kBusName).c_str(),
                                      std::string(kObjectPath).c_str(),
                                      std::string(kInterface).c_str(), name, &e, 't', &v);
  if (r < 0) return BusError(r, e, fmt::format("read {}", name));
  return v;
}

Result<std::map<std::string, uint64_t>> GetFailures(sd_bus* bus) {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  int r = sd_bus_get_property(bus, std::string(kBusName).c_str(), std::string(kObjectPath).c_str(),
                              std::string(kInterface).c_str(), "Failures", &e, &reply, "a{st}");
  if (r < 0) return BusError(r, e, "read Failures");
  std::unique_ptr<sd_bus_message, sd_bus_message* (*)(sd_bus_message*)> guard(reply,
                                                                              sd_bus_message_unref);
  std::map<std::string, uint64_t> out;
  r = sd_bus_message_enter_container(reply, 'a', "{st}");
  while (r >= 0) {
    const char* reason = nullptr;
    uint64_t count = 0;
    r = sd_bus_message_read(reply, "{st}", &reason, &count);
    if (r <= 0) break;
    out[reason] = count;
  }
  if (r < 0) return std::unexpected(Error::FromErrno(-r, "read Failures"));
  return out;
}

Result<std::vector<SlotView>> GetSlots(sd_bus* bus) {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  int r = sd_bus_get_property(bus, std::string(kBusName).c_str(), std::string(kObjectPath).c_str(),
                              std::string(kInterface).c_str(), "Slots", &e, &reply, "a(sssubb)");
  if (r < 0) return BusError(r, e, "read Slots");
  std::unique_ptr<sd_bus_message, sd_bus_message* (*)(sd_bus_message*)> guard(reply,
                                                                              sd_bus_message_unref);
  std::vector<SlotView> out;
  r = sd_bus_message_enter_container(reply, 'a', "(sssubb)");
  while (r >= 0) {
    const char *slot = nullptr, *version = nullptr, *health = nullptr;
    uint32_t tries = 0;
    int current = 0, next = 0;
    r = sd_bus_message_read(reply, "(sssubb)", &slot, &version, &health, &tries, &current, &next);
    if (r <= 0) break;
    out.push_back({.slot = slot,
                   .version = version,
                   .health = health,
                   .tries = tries,
                   .current = current != 0,
                   .next = next != 0});
  }
  if (r < 0) return std::unexpected(Error::FromErrno(-r, "read Slots"));
  return out;
}

}  // namespace

static Result<DaemonStatus> ReadStatusOnce(sd_bus* bus) {
  DaemonStatus s;
  BASALT_ASSIGN_OR_RETURN(s.state, GetString(bus, "State"));
  BASALT_ASSIGN_OR_RETURN(s.current_version, GetString(bus, "CurrentVersion"));
  BASALT_ASSIGN_OR_RETURN(s.current_slot, GetString(bus, "CurrentSlot"));
  BASALT_ASSIGN_OR_RETURN(s.next_version, GetString(bus, "NextVersion"));
  BASALT_ASSIGN_OR_RETURN(s.channel, GetString(bus, "Channel"));
  BASALT_ASSIGN_OR_RETURN(s.last_check, GetString(bus, "LastCheck"));
  BASALT_ASSIGN_OR_RETURN(s.last_error, GetString(bus, "LastError"));
  BASALT_ASSIGN_OR_RETURN(s.wait_reason, GetString(bus, "WaitReason"));
  BASALT_ASSIGN_OR_RETURN(s.last_error_code, GetString(bus, "LastErrorCode"));
  BASALT_ASSIGN_OR_RETURN(s.wait_reason_code, GetString(bus, "WaitReasonCode"));
  BASALT_ASSIGN_OR_RETURN(s.operation, GetU64(bus, "Operation"));
  BASALT_ASSIGN_OR_RETURN(s.failed_operation, GetU64(bus, "FailedOperation"));
  sd_bus_error e = SD_BUS_ERROR_NULL;
  int r = sd_bus_get_property_trivial(
      bus, std::string(kBusName).c_str(), std::string(kObjectPath).c_str(),
      std::string(kInterface).c_str(), "Progress", &e, 'd', &s.progress);
  if (r < 0) return BusError(r, e, "read Progress");
  int busy = 0;
  r = sd_bus_get_property_trivial(bus, std::string(kBusName).c_str(),
                                  std::string(kObjectPath).c_str(), std::string(kInterface).c_str(),
                                  "Busy", &e, 'b', &busy);
  if (r < 0) return BusError(r, e, "read Busy");
  s.busy = busy != 0;
  BASALT_ASSIGN_OR_RETURN(s.last_success, GetString(bus, "LastSuccess"));
  BASALT_ASSIGN_OR_RETURN(s.downloaded_delta_bytes, GetU64(bus, "DownloadedDeltaBytes"));
  BASALT_ASSIGN_OR_RETURN(s.downloaded_full_bytes, GetU64(bus, "DownloadedFullBytes"));
  BASALT_ASSIGN_OR_RETURN(s.rollbacks, GetU64(bus, "Rollbacks"));
  BASALT_ASSIGN_OR_RETURN(s.failures, GetFailures(bus));
  BASALT_ASSIGN_OR_RETURN(s.slots, GetSlots(bus));
  BASALT_ASSIGN_OR_RETURN(s.measured_boot, GetString(bus, "MeasuredBoot"));
  BASALT_ASSIGN_OR_RETURN(s.measured_boot_message, GetString(bus, "MeasuredBootMessage"));
  BASALT_ASSIGN_OR_RETURN(s.measured_pcr11, GetString(bus, "MeasuredPcr11"));
  return s;
}

// The properties are read one by one, so a change between two reads would mix two states (say
// "checking" with the wait reason of the check's end). The daemon's Generation counter is odd
// while a change is under way and moves with every change: the same even value before and after
// the reads means they all came from one snapshot, else read again.
Result<DaemonStatus> GetDaemonStatus() {
  BASALT_ASSIGN_OR_RETURN(Bus bus, Connect());
  Result<DaemonStatus> last = Fail(ErrorKind::kInternal, "no status read");
  for (int attempt = 0; attempt < 50; ++attempt) {
    BASALT_ASSIGN_OR_RETURN(uint64_t before, GetU64(bus.get(), "Generation"));
    last = ReadStatusOnce(bus.get());
    if (!last) return last;
    BASALT_ASSIGN_OR_RETURN(uint64_t after, GetU64(bus.get(), "Generation"));
    if (before == after && before % 2 == 0) return last;
  }
  // Changing faster than it can be read (progress at a terminal): the last read will do.
  return last;
}

Status CallDaemon(const std::string& method, const std::string& arg) {
  BASALT_ASSIGN_OR_RETURN(Bus bus, Connect());
  sd_bus_error e = SD_BUS_ERROR_NULL;
  int r;
  if (method == "Apply") {
    r = sd_bus_call_method(bus.get(), std::string(kBusName).c_str(),
                           std::string(kObjectPath).c_str(), std::string(kInterface).c_str(),
                           method.c_str(), &e, nullptr, "s", arg.c_str());
  } else {
    r = sd_bus_call_method(bus.get(), std::string(kBusName).c_str(),
                           std::string(kObjectPath).c_str(), std::string(kInterface).c_str(),
                           method.c_str(), &e, nullptr, "");
  }
  if (r < 0) return BusError(r, e, method);
  return {};
}

}  // namespace basalt::update
