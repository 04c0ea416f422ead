#include "payload/generator.h"
#include "repo/payload_maker.h"

namespace basalt::repo {
namespace {

class GeneratorPayloadMaker : public PayloadMaker {
 public:
  Result<MadePayload> Make(const PayloadRequest& req, Logger& log) override {
    payload::GenerateOptions opt;
    opt.new_image_dir = req.new_image_dir;
    opt.old_image_dir = req.old_image_dir;
    opt.output_path = req.output_path;
    opt.keys = req.keys;
    BASALT_ASSIGN_OR_RETURN(payload::GenerateResult r, payload::GeneratePayload(opt, log));
    MadePayload m;
    m.path = r.path;
    m.size = r.size;
    m.sha256 = r.sha256;
    m.is_delta = r.is_delta;
    m.to_version = r.to_version;
    m.from_version = r.from_version;
    m.from_root_hash = r.from_root_hash;
    return m;
  }
};

}  // namespace

std::unique_ptr<PayloadMaker> MakeDefaultPayloadMaker() {
  return std::make_unique<GeneratorPayloadMaker>();
}

}  // namespace basalt::repo
