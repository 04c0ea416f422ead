// A small etcd v3 client over etcd's JSON gateway (POST /v3/kv/range, /v3/kv/txn,
// /v3/lease/...), through the repository's libcurl Fetcher. Keys and values travel base64
// encoded; int64 fields as JSON strings. Several endpoints: a request goes to the last one
// that answered and fails over to the others on a network error, so one dead member of the
// cluster does not stop a host. Only what the reboot lock needs: ranges, compare-and-swap
// transactions and leases.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "http/fetcher.h"

namespace basalt::fleet {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "http://10.0.0.1:2379", "https://etcd-2:2379"
  std::string ca_file;                 // TLS: trust these CAs instead of the system's
  std::string cert_file;               // TLS client certificate (PEM), for --client-cert-auth
  std::string key_file;
  long request_timeout_seconds = 5;  // per endpoint; then the next is tried
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;  // 0: no lease
};

// One comparison of a transaction: key's `target` revision EQUAL `revision`. An absent key has
// create and mod revision 0, which is how "only if nobody created it yet" is written.
struct Compare {
  enum class Target { kMod, kCreate };
  std::string key;
  Target target = Target::kMod;
  int64_t revision = 0;
};

struct TxnOp {
  enum class Kind { kPut, kDelete, kRange, kRangePrefix };
  Kind kind = Kind::kRange;
  std::string key;
  std::string value;  // kPut
  int64_t lease = 0;  // kPut
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;                       // the store's revision after the transaction
  std::vector<std::vector<KeyValue>> ranges;  // one per kRange/kRangePrefix op run, in order
};

class EtcdClient {
 public:
  // fetcher: tests may pass their own; nullptr builds a curl fetcher with the TLS options.
  static Result<std::unique_ptr<EtcdClient>> Create(EtcdOptions options,
                                                    std::unique_ptr<http::Fetcher> fetcher = {});

  // All compares hold → success ops run, else failure ops; atomically, at one revision. With no
  // compares this is a consistent multi-key read.
  Result<TxnResult> Txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure = {});

  // Returns the lease id. ttl is in seconds (etcd may round it up to its minimum).
  Result<int64_t> LeaseGrant(int64_t ttl_seconds);
  // Refreshes a lease to its full TTL; returns the TTL left (0: the lease had expired).
  Result<int64_t> LeaseKeepAlive(int64_t id);
  // Seconds left, or nullopt when the lease does not exist (expired or revoked).
  Result<std::optional<int64_t>> LeaseTimeToLive(int64_t id);
  // Revoking a lease that no longer exists is not an error.
  Status LeaseRevoke(int64_t id);

  const std::vector<std::string>& endpoints() const { return options_.endpoints; }

 private:
  EtcdClient(EtcdOptions options, std::unique_ptr<http::Fetcher> fetcher)
      : options_(std::move(options)), fetcher_(std::move(fetcher)) {}
  // POSTs a JSON body to path on the first endpoint that answers; returns the response text.
  Result<std::string> Call(const std::string& path, const std::string& body);

  EtcdOptions options_;
  std::unique_ptr<http::Fetcher> fetcher_;
  size_t preferred_ = 0;  // index of the endpoint that answered last
};

// Parses "http://a:2379,https://b:2379" (commas or spaces) into a list, checking each is an
// http(s) URL; trailing slashes are dropped.
Result<std::vector<std::string>> ParseEndpoints(std::string_view text);

}  // namespace basalt::fleet
