#include "fleet/fleet_cli.h"

#include <iostream>
#include <memory>

#include "fleet/etcd_client.h"
#include "fleet/reboot_lock.h"

namespace basalt {
namespace {

struct LockFlags {
  std::string endpoints = "http://127.0.0.1:2379";
  std::string group = "default";
  std::string ca_file, cert_file, key_file;
  bool json = false;
};

void AddLockFlags(CLI::App* cmd, LockFlags& f) {
  cmd->add_option("--endpoints", f.endpoints,
                  "etcd client URLs, comma-separated; tried in order (ETCD_ENDPOINTS)")
      ->capture_default_str();
  cmd->add_option("--group", f.group, "Reboot lock group (ETCD_LOCK_GROUP)")->capture_default_str();
  // --tls-*: `--key` means a signing key in every other command (docs/cli.md).
  cmd->add_option("--tls-cacert", f.ca_file, "CA bundle for https endpoints (ETCD_CAFILE)");
  cmd->add_option("--tls-cert", f.cert_file, "TLS client certificate (ETCD_CERTFILE)");
  cmd->add_option("--tls-key", f.key_file, "TLS client key (ETCD_KEYFILE)");
  cmd->add_flag("--json", f.json, "Machine-readable output");
}

struct Session {
  std::unique_ptr<fleet::EtcdClient> etcd;
  std::unique_ptr<fleet::RebootLock> lock;
};

Result<Session> Open(const LockFlags& f) {
  fleet::EtcdOptions o;
  BASALT_ASSIGN_OR_RETURN(o.endpoints, fleet::ParseEndpoints(f.endpoints));
  o.ca_file = f.ca_file;
  o.cert_file = f.cert_file;
  o.key_file = f.key_file;
  BASALT_RETURN_IF_ERROR(fleet::CheckLockName("group", f.group));
  Session s;
  BASALT_ASSIGN_OR_RETURN(s.etcd, fleet::EtcdClient::Create(std::move(o)));
  // Operators never take slots, so the default max and the lease TTL are not used; an absent
  // semaphore reads as max 1, the daemon's default.
  s.lock = std::make_unique<fleet::RebootLock>(*s.etcd, f.group, 1, std::chrono::seconds(3600));
  return s;
}

nlohmann::json StateJson(const fleet::LockState& st) {
  nlohmann::json holders = nlohmann::json::array();
  for (const auto& h : st.holders) {
    nlohmann::json j = {{"machine_id", h.machine_id}, {"acquired", h.acquired}, {"lease", h.lease}};
    j["lease_ttl_seconds"] = h.ttl_left ? nlohmann::json(*h.ttl_left) : nlohmann::json(nullptr);
    holders.push_back(j);
  }
  return {{"group", st.group},
          {"max", st.max},
          {"initialized", st.initialized},
          {"held", st.holders.size()},
          {"holders", holders}};
}

int PrintStatus(const fleet::LockState& st, bool json) {
  if (json) {
    PrintJson(StateJson(st));
    return kExitOk;
  }
  std::cout << fmt::format("group {}: {}/{} slots held{}\n", st.group, st.holders.size(), st.max,
                           st.initialized ? "" : " (no semaphore in etcd yet; max is the default)");
  if (!st.holders.empty()) {
    std::cout << fmt::format("  {:<34} {:<22} {}\n", "MACHINE", "ACQUIRED", "LEASE LEFT");
    for (const auto& h : st.holders) {
      std::string ttl = h.ttl_left ? fmt::format("{}s", *h.ttl_left) : "expired";
      if (h.lease == 0) ttl = "none";
      std::cout << fmt::format("  {:<34} {:<22} {}\n", h.machine_id, h.acquired, ttl);
    }
  }
  return kExitOk;
}

}  // namespace

void AddFleetCommands(CLI::App& app, CommandRunner& runner) {
  auto* fleet = app.add_subcommand("fleet", "Fleet coordination (etcd reboot lock)");
  fleet->require_subcommand(1);
  auto* lock = fleet->add_subcommand(
      "lock", "The etcd reboot lock: a semaphore capping how many hosts of a group reboot at once");
  lock->require_subcommand(1);

  {
    auto f = std::make_shared<LockFlags>();
    auto* cmd = lock->add_subcommand("status", "Show the group's max holders and who holds a slot");
    AddLockFlags(cmd, *f);
    cmd->callback([f, &runner] {
      runner.Set([f]() -> int {
        auto s = Open(*f);
        if (!s) return ReportError(s.error());
        auto st = s->lock->Status(/*lease_ttls=*/true);
        if (!st) return ReportError(st.error());
        return PrintStatus(*st, f->json);
      });
    });
  }
  {
    auto f = std::make_shared<LockFlags>();
    auto id = std::make_shared<std::string>();
    auto* cmd = lock->add_subcommand(
        "unlock", "Free the slot held by MACHINE_ID (a host that died while holding it)");
    cmd->add_option("MACHINE_ID", *id, "Holder to release (see `status`)")->required();
    AddLockFlags(cmd, *f);
    cmd->callback([f, id, &runner] {
      runner.Set([f, id]() -> int {
        auto s = Open(*f);
        if (!s) return ReportError(s.error());
        auto freed = s->lock->Release(*id);
        if (!freed) return ReportError(freed.error());
        if (!*freed) {
          return ReportError(Error(ErrorKind::kNotFound,
                                   fmt::format("{} holds no slot in group {}", *id, f->group)));
        }
        if (f->json) {
          PrintJson({{"group", f->group}, {"unlocked", *id}});
        } else {
          std::cout << fmt::format("freed the slot of {} in group {}\n", *id, f->group);
        }
        return static_cast<int>(kExitOk);
      });
    });
  }
  {
    auto f = std::make_shared<LockFlags>();
    auto n = std::make_shared<int64_t>(1);
    auto* cmd = lock->add_subcommand(
        "set-max", "Set how many hosts of the group may hold a slot (reboot) at once");
    cmd->add_option("N", *n, "Max holders; 0 stops all reboots of the group")
        ->required()
        ->check(CLI::NonNegativeNumber);
    AddLockFlags(cmd, *f);
    cmd->callback([f, n, &runner] {
      runner.Set([f, n]() -> int {
        auto s = Open(*f);
        if (!s) return ReportError(s.error());
        auto before = s->lock->Status();
        if (!before) return ReportError(before.error());
        auto st = s->lock->SetMax(*n);
        if (!st) return ReportError(st.error());
        if (f->json) {
          PrintJson({{"group", f->group}, {"old_max", before->max}, {"max", st->max}});
        } else {
          std::cout << fmt::format("group {}: max holders {} -> {}\n", f->group, before->max,
                                   st->max);
        }
        return static_cast<int>(kExitOk);
      });
    });
  }
}

}  // namespace basalt
