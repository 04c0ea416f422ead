#include "fleet/etcd_lock_coordinator.h"

namespace basalt::fleet {

std::string DescribeFullGroup(const LockState& state) {
  std::string who;
  for (const auto& h : state.holders)
    who += (who.empty() ? "" : ", ") + h.machine_id;
  if (state.max == 0) {
    return fmt::format("etcd reboot lock group {} allows no reboots (max holders 0)", state.group);
  }
  return fmt::format("etcd reboot lock group {} is full: {}/{} held by {}", state.group,
                     state.holders.size(), state.max, who);
}

Result<std::unique_ptr<EtcdLockCoordinator>> EtcdLockCoordinator::Create(EtcdLockConfig config,
                                                                         Logger* log) {
  BASALT_RETURN_IF_ERROR(CheckLockName("ETCD_LOCK_GROUP", config.group));
  BASALT_RETURN_IF_ERROR(CheckLockName("machine id", config.machine_id));
  if (config.max_holders < 1) {
    return Fail(ErrorKind::kInvalidInput, "ETCD_MAX_HOLDERS must be at least 1");
  }
  // etcd's own floor is about 1.5s; the config parser asks for a minute (a reboot must fit).
  if (config.lease_ttl.count() < 2) {
    return Fail(ErrorKind::kInvalidInput, "the etcd lock lease must last at least 2s");
  }
  BASALT_ASSIGN_OR_RETURN(auto etcd, EtcdClient::Create(config.etcd));
  return std::unique_ptr<EtcdLockCoordinator>(
      new EtcdLockCoordinator(std::move(config), std::move(etcd), log));
}

EtcdLockCoordinator::EtcdLockCoordinator(EtcdLockConfig config, std::unique_ptr<EtcdClient> etcd,
                                         Logger* log)
    : config_(std::move(config)), etcd_(std::move(etcd)) {
  lock_ = std::make_unique<RebootLock>(*etcd_, config_.group, config_.max_holders,
                                       config_.lease_ttl, log);
}

Result<update::RebootGate> EtcdLockCoordinator::MayReboot(std::chrono::system_clock::time_point) {
  auto got = lock_->Acquire(config_.machine_id);
  if (!got) return std::unexpected(got.error().WithContext("etcd reboot lock"));
  update::RebootGate gate;
  gate.reboot_now = got->held;
  if (!got->held) gate.wait_reason = DescribeFullGroup(got->state);
  return gate;
}

Status EtcdLockCoordinator::AfterBoot() {
  auto got = lock_->Release(config_.machine_id);
  if (!got) return std::unexpected(got.error().WithContext("etcd reboot lock: release"));
  return {};
}

Status EtcdLockCoordinator::KeepAlive() {
  return lock_->KeepAlive(config_.machine_id);
}

}  // namespace basalt::fleet
