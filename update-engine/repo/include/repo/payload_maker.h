// The payload generator publish uses in the shipped CLI: update-engine/payload's
// GeneratePayload behind the PayloadMaker interface (publish's unit tests use a fake).
#pragma once

#include <memory>

#include "repo/publish.h"

namespace basalt::repo {

std::unique_ptr<PayloadMaker> MakeDefaultPayloadMaker();

}  // namespace basalt::repo
