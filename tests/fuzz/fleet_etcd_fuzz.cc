// etcd's JSON gateway answers, fed to the client through a fetcher that returns the fuzz
// input: every shape must be an error or a well-formed result, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fleet/etcd_client.h"

namespace {

class InputFetcher : public basalt::http::Fetcher {
 public:
  explicit InputFetcher(std::string answer) : answer_(std::move(answer)) {}
  basalt::Result<std::string> Get(const std::string&, size_t) override { return answer_; }
  basalt::Result<uint64_t> GetRange(const std::string&, uint64_t, uint64_t,
                                    const basalt::http::ByteSink&) override {
    return 0;
  }
  basalt::Result<std::string> Post(const std::string&, std::string_view, std::string_view,
                                   size_t) override {
    return answer_;
  }

 private:
  std::string answer_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace basalt::fleet;
  EtcdOptions o;
  o.endpoints = {"http://127.0.0.1:1"};
  auto c = EtcdClient::Create(
      o, std::make_unique<InputFetcher>(std::string(reinterpret_cast<const char*>(data), size)));
  if (!c) __builtin_trap();
  auto t = (*c)->Txn({}, {TxnOp{TxnOp::Kind::kRange, "/a", "", 0},
                          TxnOp{TxnOp::Kind::kRangePrefix, "/b/", "", 0}});
  // Without compares the success branch ran; its two range results must both be there.
  if (t && t->succeeded && t->ranges.size() != 2) __builtin_trap();
  (void)(*c)->LeaseGrant(60);
  (void)(*c)->LeaseKeepAlive(1);
  (void)(*c)->LeaseTimeToLive(1);
  return 0;
}
