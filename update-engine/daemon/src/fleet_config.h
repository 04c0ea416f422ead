// From the daemon's parsed update.conf to the fleet parts' settings, so the daemon wires the
// etcd lock and the Omaha source with one call each.
#pragma once

#include <string>

#include "daemon/config.h"
#include "fleet/etcd_lock_coordinator.h"
#include "fleet/omaha_source.h"

namespace basalt::fleet {

// ETCD_* keys; machine_id is the host's /etc/machine-id.
EtcdLockConfig EtcdLockConfigFrom(const daemon::UpdateConfig& config, std::string machine_id);
// SERVER (the Omaha endpoint) and OMAHA_APP_ID.
OmahaConfig OmahaConfigFrom(const daemon::UpdateConfig& config);

}  // namespace basalt::fleet
