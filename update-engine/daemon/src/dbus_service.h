// org.basalt.Update1 on the bus (sd-bus): object /org/basalt/Update1, interface
// org.basalt.Update1.Manager. Methods Check, Apply(s version), Cancel, Rollback, MarkGood — root,
// or a caller polkit authorizes (polkit_check.h); properties State, Progress, CurrentVersion,
// CurrentSlot, NextVersion, Channel, LastCheck, LastError, WaitReason, with PropertiesChanged on
// every change.
#pragma once

#include <string_view>

#include "common/error.h"
#include "common/log.h"
#include "daemon/dbus_api.h"
#include "daemon/update_manager.h"

namespace basalt::update {

struct ServeOptions {
  bool user_bus = false;  // the session bus instead of the system bus (tests)
  bool notify = true;     // sd_notify READY/STATUS (and the watchdog through sd-event)
};

// Runs the daemon's event loop until SIGTERM/SIGINT.
Status Serve(UpdateManager& manager, const ServeOptions& options, Logger& log);

// The NextVersion property: the staged/in-flight version, else the one a check found.
std::string NextVersionOf(const Snapshot& s);

}  // namespace basalt::update
