// basalt-updated: the host update daemon. Reads update.conf, serves org.basalt.Update1 on the
// system bus, checks periodically, stages updates into the inactive slot, reboots per strategy,
// and after boot blesses or records a rollback.
#include <systemd/sd-bus.h>

#include <CLI/CLI.hpp>
#include <fstream>

#include "cli/cli.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/printable.h"
#include "daemon/config.h"
#include "daemon/daemon_options.h"
#include "daemon/update_manager.h"
#include "dbus_service.h"
#include "kernel_args.h"

namespace {

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Reboot through logind, which runs the shutdown inhibitor logic and the usual jobs.
basalt::Status LogindReboot() {
  sd_bus* bus = nullptr;
  int r = sd_bus_open_system(&bus);
  if (r < 0) return std::unexpected(basalt::Error::FromErrno(-r, "connect to the system bus"));
  sd_bus_error error = SD_BUS_ERROR_NULL;
  r = sd_bus_call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1",
                         "org.freedesktop.login1.Manager", "Reboot", &error, nullptr, "b", 0);
  std::string message = error.message ? error.message : "";
  sd_bus_error_free(&error);
  sd_bus_flush_close_unref(bus);
  if (r < 0) {
    return basalt::Failf(basalt::ErrorKind::kIo, "logind Reboot failed: {}", message);
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{basalt::daemon::kDaemonDescription};
  basalt::daemon::DaemonArgs args;
  basalt::daemon::AddDaemonOptions(app, args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? basalt::kExitOk : basalt::kExitUsage;
  }
  const std::string& root = args.root;
  basalt::update::ManagerOptions& mo = args.mo;
  const std::string& disk = args.disk;
  const bool no_periodic = args.no_periodic;
  const bool session = args.session;
  auto log = basalt::MakeDefaultLogger("basalt-updated");
  auto cfg = basalt::daemon::LoadUpdateConfig(root);
  if (!cfg) {
    log->Error(cfg.error().message(), {{"ERROR", cfg.error().message()}});
    return basalt::ExitCodeFor(cfg.error());
  }
  mo.config = *cfg;
  if (!disk.empty()) mo.disk = disk;
  mo.periodic_checks = !no_periodic;
  mo.machine_id = FirstLine("/etc/machine-id");
  mo.boot_id = FirstLine("/proc/sys/kernel/random/boot_id");
  // Neither stops the daemon: D-Bus, checks and staging work without them. Their absence does
  // matter later (etcd-lock refuses an empty machine id; without a boot id a reboot looks like
  // a restart, so a staged update is not judged), so it is said now.
  if (mo.machine_id.empty()) log->Warn("no machine id in /etc/machine-id");
  if (mo.boot_id.empty()) {
    log->Warn(
        "no boot id in /proc/sys/kernel/random/boot_id: a reboot cannot be told from a "
        "daemon restart");
  }
  mo.reboot = LogindReboot;
  if (disk.empty()) {
    auto cmdline = basalt::ReadFileToString("/proc/cmdline");
    if (!cmdline) {
      log->Error(cmdline.error().message(), {{"ERROR", cmdline.error().message()}});
      return basalt::ExitCodeFor(cmdline.error());
    }
    auto carried = basalt::update::CarriedOverKernelArgs(*cmdline);
    mo.extra_cmdline = carried.args;
    // Once per daemon start: the next update's entry will not have these.
    for (const auto& arg : carried.dropped) {
      log->Warn("kernel argument " + basalt::Printable(arg, 256) +
                " is not carried over into updated slots");
    }
  }
  auto manager = basalt::update::UpdateManager::Create(mo, *log);
  if (!manager) {
    log->Error(manager.error().message(), {{"ERROR", manager.error().message()}});
    return basalt::ExitCodeFor(manager.error());
  }
  if (auto s = (*manager)->AfterBoot(); !s) {
    log->Error(s.error().message(), {{"ERROR", s.error().message()}});
  }
  basalt::update::ServeOptions so;
  so.user_bus = session;
  auto s = basalt::update::Serve(**manager, so, *log);
  if (!s) {
    log->Error(s.error().message(), {{"ERROR", s.error().message()}});
    return basalt::ExitCodeFor(s.error());
  }
  return basalt::kExitOk;
}
