// Writes the payload file: operations' blobs as they are encoded, in order, into a temporary
// blob file; at the end the header, manifest and signature block followed by the blobs, into a
// temporary file renamed over the output, so the output is never a partial payload.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"
#include "common/fd.h"
#include "payload/boot_artifacts.h"
#include "payload/format.h"
#include "payload/generator.h"
#include "planned_op.h"
#include "signer.h"

namespace basalt::payload {

class PayloadWriter {
 public:
  explicit PayloadWriter(std::string output_path)
      : output_path_(std::move(output_path)), blob_path_(output_path_ + ".blobs.tmp") {}
  // Removes the blob file.
  ~PayloadWriter();
  PayloadWriter(const PayloadWriter&) = delete;
  PayloadWriter& operator=(const PayloadWriter&) = delete;

  // Creates the blob file.
  Status Open();
  // Appends the operation's blob, if any, and sets its data offset, length and SHA-256.
  Status AddBlob(PlannedOp& p);
  // Appends a boot artifact's data (after the last operation's) and sets its data fields.
  Status AddBlob(BootArtifact& artifact, std::span<const uint8_t> blob);
  uint64_t blobs_size() const { return blob_offset_; }
  // Makes the blobs durable; call after the last AddBlob.
  Status SyncBlobs();

  // Writes the output: `manifest` (its blobs_size set) under a header of `minor_version`,
  // signed by `signer`, then the blobs. Fills in result.size and result.sha256.
  Status Write(const Manifest& manifest, uint32_t minor_version, const Signer& signer,
               GenerateResult& result);

 private:
  const std::string output_path_;
  const std::string blob_path_;
  // Appends `blob`; returns its offset in the blob area.
  Result<uint64_t> Append(std::span<const uint8_t> blob);

  UniqueFd blob_fd_;
  uint64_t blob_offset_ = 0;
};

}  // namespace basalt::payload
