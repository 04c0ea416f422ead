// One host contending for the etcd reboot lock, as a separate process so tests can kill -9 it
// while it holds the slot. Its body follows the daemon's order: stage the update, wait for the
// lock (MayReboot, with backoff while etcd is unreachable or the group is full), "reboot",
// then AfterBoot once the new boot is good.
//
// StageUpdate() and SimulateReboot() stay a no-op and a sleep here: this exercises the lock
// library alone. The same contention with real offline hosts (`basalt update apply --disk
// --config` with etcd-lock, then `basalt update after-boot`) is
// UpdateFlowTest.FleetEtcdLockRebootsOneHostAtATime.
//
// Usage: fleet_lock_contender --endpoints E --group G --id MACHINE --log FILE
//          [--max N] [--ttl SECONDS] [--hold-ms MS] [--hold-until FILE]
// Appends "resume ID" (the slot was already ours at start), "wait ID" (the first time it found
// the group full, so a test can wait for that instead of sleeping), "acquire ID" and
// "release ID" lines to FILE (O_APPEND, one write each, so lines of several contenders
// interleave whole).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "fleet/etcd_lock_coordinator.h"

namespace {

using namespace std::chrono_literals;

struct Args {
  std::string endpoints, group, id, log, hold_until;
  int64_t max = 1, ttl = 60, hold_ms = 200;
};

void Append(const std::string& path, const std::string& line) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::string l = line + "\n";
  (void)!write(fd, l.data(), l.size());
  close(fd);
}

void StageUpdate(const Args&) {}

void SimulateReboot(const Args& a) {
  std::this_thread::sleep_for(std::chrono::milliseconds(a.hold_ms));
  while (!a.hold_until.empty() && access(a.hold_until.c_str(), F_OK) != 0) {
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--endpoints")
      a.endpoints = v;
    else if (k == "--group")
      a.group = v;
    else if (k == "--id")
      a.id = v;
    else if (k == "--log")
      a.log = v;
    else if (k == "--hold-until")
      a.hold_until = v;
    else if (k == "--max")
      a.max = std::stoll(v);
    else if (k == "--ttl")
      a.ttl = std::stoll(v);
    else if (k == "--hold-ms")
      a.hold_ms = std::stoll(v);
    else {
      fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  basalt::fleet::EtcdLockConfig cfg;
  auto eps = basalt::fleet::ParseEndpoints(a.endpoints);
  if (!eps) {
    fprintf(stderr, "%s\n", eps.error().message().c_str());
    return 2;
  }
  cfg.etcd.endpoints = *eps;
  cfg.group = a.group;
  cfg.machine_id = a.id;
  cfg.max_holders = a.max;
  cfg.lease_ttl = std::chrono::seconds(a.ttl);
  auto coord = basalt::fleet::EtcdLockCoordinator::Create(cfg);
  if (!coord) {
    fprintf(stderr, "%s\n", coord.error().message().c_str());
    return 2;
  }
  if (auto st = (*coord)->lock().Status(); st) {
    for (const auto& h : st->holders) {
      if (h.machine_id == a.id) Append(a.log, "resume " + a.id);
    }
  }
  StageUpdate(a);
  auto backoff = 50ms;
  bool waited = false;
  for (;;) {
    auto gate = (*coord)->MayReboot(std::chrono::system_clock::now());
    if (gate && gate->reboot_now) break;
    if (!gate) {
      fprintf(stderr, "%s: %s\n", a.id.c_str(), gate.error().message().c_str());
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, 1s);
    } else {
      if (!waited) Append(a.log, "wait " + a.id);
      waited = true;
      backoff = 50ms;
    }
    std::this_thread::sleep_for(backoff);
  }
  Append(a.log, "acquire " + a.id);
  SimulateReboot(a);
  Append(a.log, "release " + a.id);
  for (auto delay = 50ms;; delay = std::min<std::chrono::milliseconds>(delay * 2, 1s)) {
    auto s = (*coord)->AfterBoot();
    if (s) break;
    fprintf(stderr, "%s: %s\n", a.id.c_str(), s.error().message().c_str());
    std::this_thread::sleep_for(delay);
  }
  return 0;
}
