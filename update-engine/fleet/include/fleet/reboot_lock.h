// locksmith's reboot semaphore on etcd v3: per group, at most `max` hosts hold a slot, each
// holder named by its machine id. A host takes a slot before it reboots, keeps it through the
// reboot and gives it back once the new boot is marked good (or a rollback is recorded).
//
// Keys, under /basalt/reboot-lock/<group>/:
//   semaphore          {"max": N}; rewritten by every change, so its mod revision guards
//                      every compare-and-swap (acquire, release, unlock, set-max)
//   holders/<machine>  {"machine_id", "acquired"}, attached to a lease of `lease_ttl`
// A holder that dies and never comes back is released when its lease runs out; an operator can
// free the slot at once with Unlock. Taking the lock again with the same machine id is a
// no-op that refreshes the lease, so a host that crashed or rebooted while holding resumes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "fleet/etcd_client.h"

namespace basalt::fleet {

struct LockHolder {
  std::string machine_id;
  std::string acquired;             // RFC 3339, as the holder wrote it
  int64_t lease = 0;                // etcd lease id (0: none)
  std::optional<int64_t> ttl_left;  // seconds, when asked for (Status with lease_ttls)
};

struct LockState {
  std::string group;
  int64_t max = 0;
  bool initialized = false;  // false: no semaphore key yet (the first host creates it)
  std::vector<LockHolder> holders;
  int64_t revision = 0;  // mod revision of the semaphore key
};

struct AcquireResult {
  bool held = false;
  bool reentered = false;  // this machine already held a slot (after a crash or a reboot)
  LockState state;         // as seen when deciding
};

class RebootLock {
 public:
  // default_max: the slot count written when the group's semaphore does not exist yet. Once it
  // exists, the value in etcd wins (operators change it with SetMax), as with locksmith.
  // `log` hears what is left to etcd to clean up (a lease that could not be revoked); nullptr:
  // stderr.
  RebootLock(EtcdClient& etcd, std::string group, int64_t default_max,
             std::chrono::seconds lease_ttl, Logger* log = nullptr);

  Result<LockState> Status(bool lease_ttls = false);
  Result<AcquireResult> Acquire(const std::string& machine_id);
  // Frees machine_id's slot (the holder after its good boot, or an operator). Releasing a slot
  // that is not held is fine: it runs again after a crash. Returns whether a slot was freed.
  Result<bool> Release(const std::string& machine_id);
  // Refreshes the holder's lease to its full TTL; kNotFound when machine_id holds nothing.
  ::basalt::Status KeepAlive(const std::string& machine_id);
  Result<LockState> SetMax(int64_t max);

  std::string SemaphoreKey() const;
  std::string HolderKey(const std::string& machine_id) const;

 private:
  Result<LockState> Read(bool lease_ttls);
  // Revokes a lease nothing needs any more. Best effort: a lease that stays expires after its
  // TTL on its own, and it holds no key, so a failure is logged and the caller goes on.
  void RevokeUnused(int64_t lease, std::string_view why);

  EtcdClient& etcd_;
  std::string group_;
  int64_t default_max_;
  std::chrono::seconds lease_ttl_;
  std::unique_ptr<Logger> own_log_;  // when none was given
  Logger* log_;
};

// Group names and machine ids become etcd key segments: [A-Za-z0-9._-], 1..128 characters.
::basalt::Status CheckLockName(std::string_view what, std::string_view name);

}  // namespace basalt::fleet
