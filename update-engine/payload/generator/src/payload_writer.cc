#include "payload_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

namespace basalt::payload {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

PayloadWriter::~PayloadWriter() {
  if (blob_fd_) unlink(blob_path_.c_str());
}

Status PayloadWriter::Open() {
  BASALT_ASSIGN_OR_RETURN(blob_fd_, OpenFile(blob_path_, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  return {};
}

Result<uint64_t> PayloadWriter::Append(std::span<const uint8_t> blob) {
  BASALT_RETURN_IF_ERROR(WriteFull(blob_fd_.get(), blob, blob_path_));
  const uint64_t offset = blob_offset_;
  blob_offset_ += blob.size();
  return offset;
}

Status PayloadWriter::AddBlob(PlannedOp& p) {
  if (p.blob.empty()) return {};
  BASALT_ASSIGN_OR_RETURN(uint64_t offset, Append(p.blob));
  p.op.set_data_offset(offset);
  p.op.set_data_length(p.blob.size());
  p.op.set_data_sha256(DigestString(Sha256(p.blob)));
  return {};
}

Status PayloadWriter::AddBlob(BootArtifact& artifact, std::span<const uint8_t> blob) {
  BASALT_ASSIGN_OR_RETURN(uint64_t offset, Append(blob));
  artifact.set_data_offset(offset);
  artifact.set_data_length(blob.size());
  artifact.set_data_sha256(DigestString(Sha256(blob)));
  return {};
}

Status PayloadWriter::SyncBlobs() {
  if (fsync(blob_fd_.get()) != 0) return FailErrno("fsync " + blob_path_);
  return {};
}

Status PayloadWriter::Write(const Manifest& manifest, uint32_t minor_version, const Signer& signer,
                            GenerateResult& result) {
  std::string manifest_bytes = manifest.SerializeAsString();
  Header header;
  header.minor_version = minor_version;
  header.manifest_size = manifest_bytes.size();
  // Signatures do not cover signatures_size, so the header can be signed before it is known.
  auto header_bytes = EncodeHeader(header);
  BASALT_ASSIGN_OR_RETURN(std::vector<Signature> sigs,
                          signer.Sign(SignedMessage(header_bytes, Bytes(manifest_bytes))));
  auto sig_bytes = EncodeSignatures(sigs);
  header.signatures_size = static_cast<uint32_t>(sig_bytes.size());
  header_bytes = EncodeHeader(header);

  const std::string tmp = output_path_ + ".tmp";
  BASALT_ASSIGN_OR_RETURN(UniqueFd out, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
  Hasher h(HashAlgorithm::kSha256);
  auto put = [&](std::span<const uint8_t> d) -> Status {
    h.Update(d);
    return WriteFull(out.get(), d, tmp);
  };
  BASALT_RETURN_IF_ERROR(put(header_bytes));
  BASALT_RETURN_IF_ERROR(put(Bytes(manifest_bytes)));
  BASALT_RETURN_IF_ERROR(put(sig_bytes));
  BASALT_ASSIGN_OR_RETURN(UniqueFd blobs, OpenFile(blob_path_, O_RDONLY));
  std::vector<uint8_t> buf(1 << 20);
  while (true) {
    BASALT_ASSIGN_OR_RETURN(size_t n, ReadUpTo(blobs.get(), buf, blob_path_));
    if (n == 0) break;
    BASALT_RETURN_IF_ERROR(put(std::span(buf.data(), n)));
  }
  if (fsync(out.get()) != 0) return FailErrno("fsync " + tmp);
  if (rename(tmp.c_str(), output_path_.c_str()) != 0) {
    return FailErrno("rename " + tmp + " to " + output_path_);
  }
  result.size = header.blobs_offset() + manifest.blobs_size();
  h.Final(result.sha256.data());
  return {};
}

}  // namespace basalt::payload
