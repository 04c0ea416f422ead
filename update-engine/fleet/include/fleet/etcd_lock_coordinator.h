// REBOOT_STRATEGY=etcd-lock: a host with a staged update reboots only while it holds a slot of
// its group's reboot semaphore in etcd (reboot_lock.h). MayReboot takes the slot (or finds it
// already ours after a crash or the reboot itself); AfterBoot gives it back once the new boot
// is good or a rollback is recorded. etcd unreachable is an error: the daemon retries with
// backoff and does not reboot meanwhile.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "daemon/reboot_coordinator.h"
#include "fleet/etcd_client.h"
#include "fleet/reboot_lock.h"

namespace basalt::fleet {

struct EtcdLockConfig {
  EtcdOptions etcd;
  std::string group = "default";
  int64_t max_holders = 1;  // used when the group's semaphore does not exist yet
  // How long a slot outlives its holder's silence. Long enough for a reboot plus the health
  // check; a host that never comes back frees its slot after this.
  std::chrono::seconds lease_ttl{3600};
  std::string machine_id;
};

class EtcdLockCoordinator : public update::RebootCoordinator {
 public:
  // `log`: see RebootLock (nullptr: stderr).
  static Result<std::unique_ptr<EtcdLockCoordinator>> Create(EtcdLockConfig config,
                                                             Logger* log = nullptr);

  std::string_view strategy() const override { return "etcd-lock"; }
  Result<update::RebootGate> MayReboot(std::chrono::system_clock::time_point now) override;
  Status AfterBoot() override;
  // While the new boot waits for its health checks the daemon calls this now and then, so a
  // slow but alive host keeps its slot; kNotFound if it holds none (e.g. the lease ran out).
  Status KeepAlive();

  RebootLock& lock() { return *lock_; }

 private:
  EtcdLockCoordinator(EtcdLockConfig config, std::unique_ptr<EtcdClient> etcd, Logger* log);

  EtcdLockConfig config_;
  std::unique_ptr<EtcdClient> etcd_;
  std::unique_ptr<RebootLock> lock_;
};

// "group default is full: 1/1 held by HOST" — the wait reason `basalt update status` shows.
std::string DescribeFullGroup(const LockState& state);

}  // namespace basalt::fleet
