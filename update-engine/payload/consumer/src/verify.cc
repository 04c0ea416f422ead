// VerifyPayload: everything about a payload that can be checked without a target.
#include "digests.h"
#include "payload/applier.h"
#include "payload/boot_artifact_reader.h"
#include "payload/reader.h"

namespace basalt::payload {

Result<VerifyResult> VerifyPayload(PayloadSource& payload, const Keyring& keyring,
                                   size_t threshold) {
  auto run = [&]() -> Result<VerifyResult> {
    BASALT_ASSIGN_OR_RETURN(PayloadHead head, ReadHead(payload, &keyring, threshold));
    VerifyResult r;
    const Manifest& m = head.manifest;
    r.version = m.version();
    r.from_version = m.from_version();
    r.payload_size = head.header.blobs_offset() + m.blobs_size();
    r.signers = head.signers;
    if (auto size = payload.Size(); size && *size != r.payload_size) {
      return Failf(
          ErrorKind::kInvalidInput, "payload is {} bytes but its signed manifest describes {} ({})",
          *size, r.payload_size, *size < r.payload_size ? "truncated" : "unexpected data appended");
    }
    std::vector<uint8_t> blob;
    for (const auto& part : m.partitions()) {
      r.is_delta |= !part.old_sha256().empty();
      for (int i = 0; i < part.operations_size(); ++i) {
        const Operation& op = part.operations(i);
        ++r.operations;
        if (op.data_length() == 0) continue;
        blob.resize(op.data_length());
        BASALT_RETURN_IF_ERROR(ReadExact(
            payload, blob, head.header.blobs_offset() + op.data_offset(), "operation data"));
        if (auto s = CheckDigest(blob, op.data_sha256(), ErrorKind::kIntegrity,
                                 fmt::format("partition {} operation {} data", part.name(), i));
            !s) {
          return std::unexpected(s.error());
        }
      }
    }
    BASALT_RETURN_IF_ERROR(CheckBootArtifactBlobs(payload, head));
    uint8_t extra;
    BASALT_ASSIGN_OR_RETURN(size_t more, payload.Read(std::span(&extra, 1)));
    if (more != 0)
      return Fail(ErrorKind::kInvalidInput, "payload has unexpected data after its last blob");
    return r;
  };
  auto r = run();
  if (!r) return std::unexpected(std::move(r).error().WithContext("verify payload"));
  return r;
}

}  // namespace basalt::payload
