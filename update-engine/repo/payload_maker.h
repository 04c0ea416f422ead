// The payload generator publish uses in the shipped CLI. Until update-engine/payload's
// generator is linked in, this returns null and publish imports a pre-made full payload
// (--payload); the adapter over GeneratePayload replaces default_payload_maker.cc.
#pragma once

#include <memory>

#include "update-engine/repo/publish.h"

namespace basalt::repo {

std::unique_ptr<PayloadMaker> MakeDefaultPayloadMaker();

}  // namespace basalt::repo
