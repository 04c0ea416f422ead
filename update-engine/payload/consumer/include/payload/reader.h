// Reads and checks the signed head of a payload: header, manifest bytes, signature block.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/keyring.h"
#include "payload/format.h"
#include "payload/source.h"

namespace basalt::payload {

struct PayloadHead {
  Header header;
  std::array<uint8_t, kHeaderSize> header_bytes{};
  std::vector<uint8_t> manifest_bytes;
  std::vector<Signature> signatures;
  Manifest manifest;
  std::vector<std::string> signers;  // filled by VerifyHead
};

// Reads the head from the start of src. With keyring, the signatures are verified (threshold)
// before the manifest is parsed; without, the manifest is parsed unverified (inspect only).
Result<PayloadHead> ReadHead(PayloadSource& src, const Keyring* keyring, size_t threshold);

}  // namespace basalt::payload
