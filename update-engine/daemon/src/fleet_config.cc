#include "fleet_config.h"

namespace basalt::fleet {

EtcdLockConfig EtcdLockConfigFrom(const daemon::UpdateConfig& config, std::string machine_id) {
  EtcdLockConfig c;
  c.etcd.endpoints = config.etcd.endpoints;
  c.etcd.ca_file = config.etcd.ca_file;
  c.etcd.cert_file = config.etcd.cert_file;
  c.etcd.key_file = config.etcd.key_file;
  c.group = config.etcd.group;
  c.max_holders = config.etcd.max_holders;
  c.lease_ttl = config.etcd.lease_ttl;
  c.machine_id = std::move(machine_id);
  return c;
}

OmahaConfig OmahaConfigFrom(const daemon::UpdateConfig& config) {
  OmahaConfig c;
  c.server = config.server;
  c.app_id = config.omaha_app_id;
  c.allow_insecure_http = config.omaha_insecure_http;
  return c;
}

}  // namespace basalt::fleet
