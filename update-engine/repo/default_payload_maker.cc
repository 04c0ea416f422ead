#include "update-engine/repo/payload_maker.h"

namespace basalt::repo {

std::unique_ptr<PayloadMaker> MakeDefaultPayloadMaker() { return nullptr; }

}  // namespace basalt::repo
