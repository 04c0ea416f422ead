#include "dbus_service.h"

#include <signal.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include <memory>

#include "common/printable.h"
#include "daemon/fleet_wiring.h"
#include "polkit_check.h"

namespace basalt::update {
namespace {

struct Ctx {
  UpdateManager* manager;
  Logger* log;
  sd_bus* bus = nullptr;
  uint64_t published = 0;
  bool notify = true;
  std::string last_status;
  Authority* authority = nullptr;  // asked for every non-root caller of a privileged method
};

std::string_view PropertyString(const Snapshot& s, std::string_view name, std::string& holder) {
  if (name == "State") return PhaseName(s.state.phase);
  if (name == "CurrentVersion") return s.current_version;
  if (name == "CurrentSlot") return s.current_slot;
  if (name == "NextVersion") return holder = NextVersionOf(s);
  if (name == "Channel") return s.channel;
  if (name == "LastCheck") return s.state.last_check;
  if (name == "LastError") return s.state.last_error;
  if (name == "LastErrorCode") return s.state.last_error_code;
  if (name == "WaitReason") return s.state.wait_reason;
  if (name == "WaitReasonCode") return s.state.wait_reason_code;
  if (name == "LastSuccess") return s.state.last_success;
  if (name == "MeasuredBoot") return s.state.measured_boot.code;
  if (name == "MeasuredBootMessage") return s.state.measured_boot.message;
  if (name == "MeasuredPcr11") return s.state.measured_boot.pcr11;
  return "";
}

// The counters come from the same struct the metrics file is written from.
fleet::UpdateMetrics MetricsOfSnapshot(const Snapshot& s) {
  return MetricsOf(s.state, s.current_version, s.channel);
}

int GetCounter(sd_bus*, const char*, const char*, const char* property, sd_bus_message* reply,
               void* userdata, sd_bus_error*) {
  auto* ctx = static_cast<Ctx*>(userdata);
  fleet::UpdateMetrics m = MetricsOfSnapshot(ctx->manager->Get());
  std::string_view name = property;
  uint64_t v = name == "DownloadedDeltaBytes"  ? m.downloaded_delta_bytes
               : name == "DownloadedFullBytes" ? m.downloaded_full_bytes
                                               : m.rollbacks;
  return sd_bus_message_append(reply, "t", v);
}

int GetFailures(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
                void* userdata, sd_bus_error*) {
  auto* ctx = static_cast<Ctx*>(userdata);
  fleet::UpdateMetrics m = MetricsOfSnapshot(ctx->manager->Get());
  int r = sd_bus_message_open_container(reply, 'a', "{st}");
  if (r < 0) return r;
  for (const auto& [reason, count] : m.failures) {
    r = sd_bus_message_append(reply, "{st}", reason.c_str(), count);
    if (r < 0) return r;
  }
  return sd_bus_message_close_container(reply);
}

int GetString(sd_bus*, const char*, const char*, const char* property, sd_bus_message* reply,
              void* userdata, sd_bus_error*) {
  auto* ctx = static_cast<Ctx*>(userdata);
  Snapshot s = ctx->manager->Get();
  std::string holder;
  std::string value(PropertyString(s, property, holder));
  // D-Bus refuses a string that is not UTF-8; an error quoting a server may hold anything.
  if (!IsValidUtf8(value)) value = Printable(value, 4096);
  return sd_bus_message_append(reply, "s", value.c_str());
}

int GetBusy(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* userdata,
            sd_bus_error*) {
  auto* ctx = static_cast<Ctx*>(userdata);
  int busy = ctx->manager->Get().busy ? 1 : 0;
  return sd_bus_message_append(reply, "b", busy);
}

int GetProgress(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
                void* userdata, sd_bus_error*) {
  auto* ctx = static_cast<Ctx*>(userdata);
  return sd_bus_message_append(reply, "d", ctx->manager->Get().progress);
}

int GetOperation(sd_bus*, const char*, const char*, const char* property, sd_bus_message* reply,
                 void* userdata, sd_bus_error*) {
  auto* ctx = static_cast<Ctx*>(userdata);
  Snapshot s = ctx->manager->Get();
  return sd_bus_message_append(
      reply, "t", std::string_view(property) == "Operation" ? s.operation : s.failed_operation);
}

// a(sssubb): slot, version, health, tries left, current, next.
int GetSlots(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* userdata,
             sd_bus_error*) {
  auto* ctx = static_cast<Ctx*>(userdata);
  Snapshot s = ctx->manager->Get();
  int r = sd_bus_message_open_container(reply, 'a', "(sssubb)");
  if (r < 0) return r;
  for (const SlotView& v : s.slots) {
    // A version is a boot entry's label: printable, but checked like every other string.
    std::string version = IsValidUtf8(v.version) ? v.version : Printable(v.version, 256);
    r = sd_bus_message_append(reply, "(sssubb)", v.slot.c_str(), version.c_str(), v.health.c_str(),
                              v.tries, static_cast<int>(v.current), static_cast<int>(v.next));
    if (r < 0) return r;
  }
  return sd_bus_message_close_container(reply);
}

int GetGeneration(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
                  void* userdata, sd_bus_error*) {
  auto* ctx = static_cast<Ctx*>(userdata);
  return sd_bus_message_append(reply, "t", ctx->manager->generation());
}

// Privileged methods: root, or a caller polkit authorizes for the method's action. The bus
// policy (org.basalt.Update1.conf) lets anyone call; this is where callers are told apart.
int Authorize(Ctx* ctx, sd_bus_message* m, const char* action_id, sd_bus_error* error) {
  sd_bus_creds* creds = nullptr;
  int r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
  if (r < 0) return r;
  uid_t uid = 1;
  r = sd_bus_creds_get_euid(creds, &uid);
  sd_bus_creds_unref(creds);
  if (r < 0) return r;
  const char* sender = sd_bus_message_get_sender(m);
  AuthDecision d = Decide(uid, sender != nullptr ? sender : "", action_id, *ctx->authority);
  if (!d.allowed) {
    return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                            Printable(d.message + " (basalt-updated)", 4096).c_str());
  }
  return 1;
}

int Reply(sd_bus_message* m, const Status& s, sd_bus_error* error) {
  if (!s) {
    const std::string name(DbusErrorName(s.error().kind()));
    return sd_bus_error_set(error, name.c_str(), Printable(s.error().message(), 4096).c_str());
  }
  return sd_bus_reply_method_return(m, "");
}

// An exception must not unwind through sd-bus (C code) and end the daemon: it becomes a
// failed call and a journal line, and the daemon keeps serving.
std::string ExceptionText() {
  try {
    throw;
  } catch (const std::exception& e) {
    return Printable(e.what(), 1024);
  } catch (...) {
    return "unknown exception";
  }
}

template <Status (*F)(UpdateManager&, sd_bus_message*), const char* Action>
int Method(sd_bus_message* m, void* userdata, sd_bus_error* error) {
  auto* ctx = static_cast<Ctx*>(userdata);
  try {
    int r = Authorize(ctx, m, Action, error);
    if (r <= 0) return r;
    return Reply(m, F(*ctx->manager, m), error);
  } catch (...) {
    const std::string message = "internal error: " + ExceptionText();
    ctx->log->Error(message, {{"ERROR", message}});
    return sd_bus_error_set(error, "org.basalt.Update1.Error.Failed", message.c_str());
  }
}

Status DoCheck(UpdateManager& mgr, sd_bus_message*) {
  return mgr.StartCheck();
}
Status DoApply(UpdateManager& mgr, sd_bus_message* m) {
  const char* version = nullptr;
  if (sd_bus_message_read(m, "s", &version) < 0) {
    return Fail(ErrorKind::kInvalidInput, "Apply takes one string (version, or empty)");
  }
  std::optional<std::string> to;
  if (version != nullptr && *version != '\0') to = version;
  return mgr.StartApply(to);
}
Status DoCancel(UpdateManager& mgr, sd_bus_message*) {
  return mgr.Cancel();
}
Status DoRollback(UpdateManager& mgr, sd_bus_message*) {
  return mgr.Rollback();
}
Status DoMarkGood(UpdateManager& mgr, sd_bus_message*) {
  return mgr.MarkGood();
}

const sd_bus_vtable kVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Check", "", "", (Method<DoCheck, kActionCheck>), SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Apply", "s", "", (Method<DoApply, kActionApply>), SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Cancel", "", "", (Method<DoCancel, kActionCancel>), SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Rollback", "", "", (Method<DoRollback, kActionRollback>),
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("MarkGood", "", "", (Method<DoMarkGood, kActionMarkGood>),
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("State", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Progress", "d", GetProgress, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("CurrentVersion", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("CurrentSlot", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("NextVersion", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Channel", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("LastCheck", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("LastError", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("WaitReason", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("LastErrorCode", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("WaitReasonCode", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Operation", "t", GetOperation, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("FailedOperation", "t", GetOperation, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Busy", "b", GetBusy, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Slots", "a(sssubb)", GetSlots, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("LastSuccess", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("MeasuredBoot", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("MeasuredBootMessage", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("MeasuredPcr11", "s", GetString, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("DownloadedDeltaBytes", "t", GetCounter, 0,
                    SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("DownloadedFullBytes", "t", GetCounter, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Failures", "a{st}", GetFailures, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Rollbacks", "t", GetCounter, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    // Seqlock counter: even and unchanged around a series of reads = one consistent snapshot.
    // Changes with every property; announced by their signals, not its own.
    SD_BUS_PROPERTY("Generation", "t", GetGeneration, 0, 0),
    SD_BUS_VTABLE_END,
};

// Announces a changed snapshot: PropertiesChanged for bus clients, STATUS= for systemctl.
void PublishChanges(Ctx* ctx) {
  uint64_t gen = ctx->manager->generation();
  if (gen == ctx->published) return;
  ctx->published = gen;
  sd_bus_emit_properties_changed(
      ctx->bus, std::string(kObjectPath).c_str(), std::string(kInterface).c_str(), "State",
      "Progress", "CurrentVersion", "CurrentSlot", "NextVersion", "LastCheck", "LastError",
      "WaitReason", "LastErrorCode", "WaitReasonCode", "Operation", "FailedOperation", "Busy",
      "LastSuccess", "DownloadedDeltaBytes", "DownloadedFullBytes", "Failures", "Rollbacks",
      "MeasuredBoot", "MeasuredBootMessage", "MeasuredPcr11", "Slots", nullptr);
  Snapshot s = ctx->manager->Get();
  std::string status = fmt::format("{}{}{}", PhaseName(s.state.phase),
                                   s.state.version.empty() ? "" : " " + s.state.version,
                                   s.state.wait_reason.empty() ? "" : ": " + s.state.wait_reason);
  if (ctx->notify && status != ctx->last_status) {
    // One line: a newline in a wait reason would start another sd_notify field.
    sd_notifyf(0, "STATUS=%s", Printable(status, 1024).c_str());
    ctx->last_status = status;
  }
}

int OnTick(sd_event_source* source, uint64_t usec, void* userdata) {
  auto* ctx = static_cast<Ctx*>(userdata);
  // What the worker finished goes out before Tick acts on it: with REBOOT_STRATEGY=reboot, Tick
  // asks logind to reboot at once, and clients should have seen updated-need-reboot first.
  PublishChanges(ctx);
  sd_bus_flush(ctx->bus);
  try {
    ctx->manager->Tick(std::chrono::system_clock::now());
  } catch (...) {
    // As in Method: logged, and the next tick tries again.
    const std::string message = "internal error in the periodic tick: " + ExceptionText();
    ctx->log->Error(message, {{"ERROR", message}});
  }
  PublishChanges(ctx);
  sd_event_source_set_time(source, usec + 250000);
  return 0;
}

struct BusDeleter {
  void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
struct EventDeleter {
  void operator()(sd_event* e) const { sd_event_unref(e); }
};
struct SlotDeleter {
  void operator()(sd_bus_slot* s) const { sd_bus_slot_unref(s); }
};
struct SourceDeleter {
  void operator()(sd_event_source* s) const { sd_event_source_unref(s); }
};

Status SdFail(int r, std::string_view what) {
  return std::unexpected(Error::FromErrno(-r, what));
}

}  // namespace

std::string NextVersionOf(const Snapshot& s) {
  return NextVersionOf(s.state);
}

Status Serve(UpdateManager& manager, const ServeOptions& options, Logger& log) {
  sd_bus* raw_bus = nullptr;
  int r = options.user_bus ? sd_bus_open_user(&raw_bus) : sd_bus_open_system(&raw_bus);
  if (r < 0) return SdFail(r, "connect to the bus");
  std::unique_ptr<sd_bus, BusDeleter> bus(raw_bus);
  Ctx ctx{&manager, &log, bus.get(), 0, options.notify, ""};
  // Asks polkit on the same connection the daemon serves on (the system bus).
  std::unique_ptr<Authority> authority = PolkitAuthority(bus.get());
  ctx.authority = authority.get();
  sd_bus_slot* raw_slot = nullptr;
  r = sd_bus_add_object_vtable(bus.get(), &raw_slot, std::string(kObjectPath).c_str(),
                               std::string(kInterface).c_str(), kVtable, &ctx);
  if (r < 0) return SdFail(r, "register the D-Bus object");
  std::unique_ptr<sd_bus_slot, SlotDeleter> slot(raw_slot);
  r = sd_bus_request_name(bus.get(), std::string(kBusName).c_str(), 0);
  if (r < 0) return SdFail(r, fmt::format("acquire the bus name {}", kBusName));

  sd_event* raw_event = nullptr;
  r = sd_event_default(&raw_event);
  if (r < 0) return SdFail(r, "create the event loop");
  std::unique_ptr<sd_event, EventDeleter> event(raw_event);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  sd_event_add_signal(event.get(), nullptr, SIGTERM, nullptr, nullptr);
  sd_event_add_signal(event.get(), nullptr, SIGINT, nullptr, nullptr);
  // WatchdogSec= in the unit: sd-event sends WATCHDOG=1 at half the interval while the loop runs.
  sd_event_set_watchdog(event.get(), true);
  r = sd_bus_attach_event(bus.get(), event.get(), SD_EVENT_PRIORITY_NORMAL);
  if (r < 0) return SdFail(r, "attach the bus to the event loop");
  uint64_t now = 0;
  sd_event_now(event.get(), CLOCK_MONOTONIC, &now);
  sd_event_source* raw_tick = nullptr;
  r = sd_event_add_time(event.get(), &raw_tick, CLOCK_MONOTONIC, now + 1000, 0, OnTick, &ctx);
  if (r < 0) return SdFail(r, "add the timer");
  std::unique_ptr<sd_event_source, SourceDeleter> tick(raw_tick);
  sd_event_source_set_enabled(tick.get(), SD_EVENT_ON);
  if (options.notify) sd_notify(0, "READY=1\nSTATUS=ready");
  log.Info(
      fmt::format("serving {} on the {} bus", kBusName, options.user_bus ? "session" : "system"));
  r = sd_event_loop(event.get());
  if (options.notify) sd_notify(0, "STOPPING=1");
  // Stops a running update at its next safe point before the process exits (it resumes on the
  // next start). With nothing running, Cancel refuses: the usual case at shutdown, not a fault.
  if (auto c = manager.Cancel(); !c) log.Debug("at shutdown: " + c.error().message());
  if (r < 0) return SdFail(r, "event loop");
  return {};
}

}  // namespace basalt::update
