#include "payload/reader.h"

namespace basalt::payload {

Result<PayloadHead> ReadHead(PayloadSource& src, const Keyring* keyring, size_t threshold) {
  PayloadHead head;
  BASALT_RETURN_IF_ERROR(ReadExact(src, head.header_bytes, 0, "the header"));
  BASALT_ASSIGN_OR_RETURN(head.header, DecodeHeader(head.header_bytes));
  if (auto size = src.Size(); size && *size < head.header.blobs_offset()) {
    return Failf(ErrorKind::kInvalidInput,
                 "payload truncated: {} bytes, but its header and signatures alone need {}", *size,
                 head.header.blobs_offset());
  }
  head.manifest_bytes.resize(head.header.manifest_size);
  BASALT_RETURN_IF_ERROR(ReadExact(src, head.manifest_bytes, kHeaderSize, "the manifest"));
  std::vector<uint8_t> sig_bytes(head.header.signatures_size);
  BASALT_RETURN_IF_ERROR(
      ReadExact(src, sig_bytes, kHeaderSize + head.header.manifest_size, "the signature block"));
  BASALT_ASSIGN_OR_RETURN(head.signatures, DecodeSignatures(sig_bytes));
  if (keyring != nullptr) {
    auto message = SignedMessage(head.header_bytes, head.manifest_bytes);
    auto verified = keyring->VerifyThreshold(message, head.signatures, threshold);
    if (!verified) {
      return std::unexpected(std::move(verified).error().WithContext(
          "payload signature check failed (header or manifest altered, or not signed by a "
          "trusted key)"));
    }
    for (const auto& s : head.signatures) {
      const PublicKey* key = keyring->Find(s.key_id);
      if (key != nullptr && key->Verify(message, s.bytes)) head.signers.push_back(s.key_id);
    }
  }
  BASALT_ASSIGN_OR_RETURN(head.manifest,
                          DecodeManifest(head.manifest_bytes, head.header.minor_version));
  return head;
}

}  // namespace basalt::payload
