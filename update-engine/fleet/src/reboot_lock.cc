#include "fleet/reboot_lock.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/time_util.h"

namespace basalt::fleet {
namespace {

using nlohmann::json;

constexpr std::string_view kRoot = "/basalt/reboot-lock/";
// Compare-and-swap conflicts mean another host changed the group between our read and write;
// a few rounds settle any realistic contention, more would hide a livelock.
constexpr int kCasRounds = 16;

std::string SemaphoreValue(int64_t max) {
  return json{{"max", max}}.dump();
}

}  // namespace

Status CheckLockName(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return Failf(ErrorKind::kInvalidInput, "{} must be 1 to 128 characters", what);
  }
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-') {
      return Failf(ErrorKind::kInvalidInput,
                   "{} '{}' may only hold letters, digits, '.', '_' and '-'", what, name);
    }
  }
  return {};
}

RebootLock::RebootLock(EtcdClient& etcd, std::string group, int64_t default_max,
                       std::chrono::seconds lease_ttl, Logger* log)
    : etcd_(etcd),
      group_(std::move(group)),
      default_max_(default_max),
      lease_ttl_(lease_ttl),
      own_log_(log == nullptr ? std::make_unique<StderrLogger>() : nullptr),
      log_(log == nullptr ? own_log_.get() : log) {}

void RebootLock::RevokeUnused(int64_t lease, std::string_view why) {
  if (auto r = etcd_.LeaseRevoke(lease); !r) {
    log_->Warn(fmt::format("reboot lock {}: cannot revoke lease {} ({}): {}; it holds no slot and "
                           "expires on its own at the end of its TTL",
                           group_, lease, why, r.error().message()),
               {{"ERROR", r.error().message()}});
  }
}

std::string RebootLock::SemaphoreKey() const {
  return fmt::format("{}{}/semaphore", kRoot, group_);
}

std::string RebootLock::HolderKey(const std::string& machine_id) const {
  return fmt::format("{}{}/holders/{}", kRoot, group_, machine_id);
}

Result<LockState> RebootLock::Read(bool lease_ttls) {
  BASALT_RETURN_IF_ERROR(CheckLockName("lock group", group_));
  std::string holders_prefix = fmt::format("{}{}/holders/", kRoot, group_);
  // One transaction without compares: both ranges at the same revision.
  BASALT_ASSIGN_OR_RETURN(TxnResult snap,
                          etcd_.Txn({}, {TxnOp{TxnOp::Kind::kRange, SemaphoreKey(), "", 0},
                                         TxnOp{TxnOp::Kind::kRangePrefix, holders_prefix, "", 0}}));
  if (!snap.succeeded || snap.ranges.size() != 2) {
    return Fail(ErrorKind::kInvalidInput,
                "etcd txn: a transaction without compares did not report success");
  }
  LockState st;
  st.group = group_;
  st.max = default_max_;
  if (!snap.ranges[0].empty()) {
    const KeyValue& sem = snap.ranges[0][0];
    json doc = json::parse(sem.value, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("max") ||
        !doc["max"].is_number_integer() || doc["max"].get<int64_t>() < 0) {
      return Failf(ErrorKind::kInvalidInput, "etcd key {} does not hold {{\"max\": N}}: '{}'",
                   SemaphoreKey(), sem.value);
    }
    st.max = doc["max"].get<int64_t>();
    st.initialized = true;
    st.revision = sem.mod_revision;
  }
  for (const KeyValue& kv : snap.ranges[1]) {
    LockHolder h;
    h.machine_id = kv.key.substr(holders_prefix.size());
    h.lease = kv.lease;
    json doc = json::parse(kv.value, nullptr, false);
    if (doc.is_object() && doc.contains("acquired") && doc["acquired"].is_string()) {
      h.acquired = doc["acquired"].get<std::string>();
    }
    if (lease_ttls && h.lease != 0) {
      BASALT_ASSIGN_OR_RETURN(h.ttl_left, etcd_.LeaseTimeToLive(h.lease));
    }
    st.holders.push_back(std::move(h));
  }
  return st;
}

Result<LockState> RebootLock::Status(bool lease_ttls) {
  return Read(lease_ttls);
}

Result<AcquireResult> RebootLock::Acquire(const std::string& machine_id) {
  BASALT_RETURN_IF_ERROR(CheckLockName("machine id", machine_id));
  for (int round = 0; round < kCasRounds; ++round) {
    BASALT_ASSIGN_OR_RETURN(LockState st, Read(false));
    AcquireResult r;
    auto mine = std::find_if(st.holders.begin(), st.holders.end(),
                             [&](const LockHolder& h) { return h.machine_id == machine_id; });
    if (mine != st.holders.end()) {
      // Ours already: we crashed or rebooted while holding. Refresh so the TTL counts from now.
      if (mine->lease != 0) {
        BASALT_ASSIGN_OR_RETURN(int64_t ttl, etcd_.LeaseKeepAlive(mine->lease));
        if (ttl <= 0) continue;  // expired between the read and now: the key is gone; take anew
      }
      r.held = true;
      r.reentered = true;
      r.state = std::move(st);
      return r;
    }
    if (static_cast<int64_t>(st.holders.size()) >= st.max) {
      r.state = std::move(st);
      return r;
    }
    BASALT_ASSIGN_OR_RETURN(int64_t lease, etcd_.LeaseGrant(lease_ttl_.count()));
    json holder = {{"machine_id", machine_id},
                   {"acquired", FormatTime(std::chrono::time_point_cast<std::chrono::seconds>(
                                    std::chrono::system_clock::now()))}};
    auto txn = etcd_.Txn({Compare{SemaphoreKey(), Compare::Target::kMod, st.revision}},
                         {TxnOp{TxnOp::Kind::kPut, SemaphoreKey(), SemaphoreValue(st.max), 0},
                          TxnOp{TxnOp::Kind::kPut, HolderKey(machine_id), holder.dump(), lease}});
    if (!txn || !txn->succeeded) {
      RevokeUnused(lease, "granted for a slot that was not taken");
      if (!txn) return std::unexpected(txn.error());
      continue;  // someone else changed the group; look again
    }
    r.held = true;
    st.holders.push_back(LockHolder{machine_id, holder["acquired"], lease, std::nullopt});
    st.revision = txn->revision;
    st.initialized = true;
    r.state = std::move(st);
    return r;
  }
  return Failf(ErrorKind::kIo, "reboot lock {}: {} compare-and-swap conflicts in a row; retry",
               group_, kCasRounds);
}

Result<bool> RebootLock::Release(const std::string& machine_id) {
  BASALT_RETURN_IF_ERROR(CheckLockName("machine id", machine_id));
  for (int round = 0; round < kCasRounds; ++round) {
    BASALT_ASSIGN_OR_RETURN(LockState st, Read(false));
    auto mine = std::find_if(st.holders.begin(), st.holders.end(),
                             [&](const LockHolder& h) { return h.machine_id == machine_id; });
    if (mine == st.holders.end()) return false;
    BASALT_ASSIGN_OR_RETURN(
        TxnResult txn,
        etcd_.Txn({Compare{SemaphoreKey(), Compare::Target::kMod, st.revision}},
                  {TxnOp{TxnOp::Kind::kPut, SemaphoreKey(), SemaphoreValue(st.max), 0},
                   TxnOp{TxnOp::Kind::kDelete, HolderKey(machine_id), "", 0}}));
    if (!txn.succeeded) continue;
    if (mine->lease != 0) RevokeUnused(mine->lease, "its slot was given back");
    return true;
  }
  return Failf(ErrorKind::kIo, "reboot lock {}: {} compare-and-swap conflicts in a row; retry",
               group_, kCasRounds);
}

Status RebootLock::KeepAlive(const std::string& machine_id) {
  BASALT_ASSIGN_OR_RETURN(LockState st, Read(false));
  for (const auto& h : st.holders) {
    if (h.machine_id != machine_id) continue;
    if (h.lease == 0) return {};
    BASALT_ASSIGN_OR_RETURN(int64_t ttl, etcd_.LeaseKeepAlive(h.lease));
    if (ttl > 0) return {};
    break;
  }
  return Failf(ErrorKind::kNotFound, "reboot lock {}: {} holds no slot", group_, machine_id);
}

Result<LockState> RebootLock::SetMax(int64_t max) {
  if (max < 0) return Fail(ErrorKind::kInvalidInput, "max holders must not be negative");
  for (int round = 0; round < kCasRounds; ++round) {
    BASALT_ASSIGN_OR_RETURN(LockState st, Read(false));
    BASALT_ASSIGN_OR_RETURN(
        TxnResult txn,
        etcd_.Txn({Compare{SemaphoreKey(), Compare::Target::kMod, st.revision}},
                  {TxnOp{TxnOp::Kind::kPut, SemaphoreKey(), SemaphoreValue(max), 0}}));
    if (!txn.succeeded) continue;
    st.max = max;
    st.initialized = true;
    st.revision = txn.revision;
    return st;
  }
  return Failf(ErrorKind::kIo, "reboot lock {}: {} compare-and-swap conflicts in a row; retry",
               group_, kCasRounds);
}

}  // namespace basalt::fleet
