// The streaming driver of ApplyPayload: the signed head, the source check, the target, resume,
// then per operation its blob and source read and verified, decoded by the OperationExecutor
// and written; finally the verity tree rebuilt and the result checked against the signed
// digests.
#include "payload/applier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "checkpoint.h"
#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hex.h"
#include "common/scratch_buffer.h"
#include "digests.h"
#include "in_order_hasher.h"
#include "operation_executor.h"
#include "payload/boot_artifact_reader.h"
#include "payload/reader.h"
#include "target_writer.h"
#include "verity/verity.h"

namespace basalt::payload {
namespace {

Status ReadExtents(int fd, const Extents& extents, std::vector<uint8_t>& buf,
                   std::string_view what) {
  buf.resize(ExtentBlocks(extents) * kBlockSize);
  size_t pos = 0;
  for (const auto& e : extents) {
    std::span<uint8_t> dst(buf.data() + pos, e.num_blocks() * kBlockSize);
    BASALT_RETURN_IF_ERROR(PreadFull(fd, dst, e.start_block() * kBlockSize, what));
    pos += dst.size();
  }
  return {};
}

// Builds the hash tree into the target with the verity engine. The superblock was shipped (and
// verified) by the operations; its UUID is read back so the engine rewrites identical bytes.
Result<std::vector<uint8_t>> RebuildVerityTree(const std::string& target,
                                               const proto::VerityParams& v,
                                               std::span<const uint8_t> data_digests) {
  verity::FormatOptions f;
  f.data_path = target;
  f.hash_offset = v.hash_offset();
  f.data_blocks = v.data_blocks();
  BASALT_ASSIGN_OR_RETURN(f.algorithm, ParseHashAlgorithm(v.hash_algorithm()));
  f.data_block_size = v.data_block_size();
  f.hash_block_size = v.hash_block_size();
  f.salt = std::vector<uint8_t>(v.salt().begin(), v.salt().end());
  f.superblock = v.has_superblock();
  f.data_digests = data_digests;
  if (v.has_superblock()) {
    auto sb = verity::ReadSuperblock(target, v.hash_offset());
    if (!sb) return std::unexpected(std::move(sb).error().WithContext("shipped verity superblock"));
    if (sb->data_blocks != v.data_blocks() ||
        std::string(sb->salt.begin(), sb->salt.end()) != v.salt()) {
      return Fail(ErrorKind::kIntegrity,
                  "shipped verity superblock disagrees with the signed verity parameters");
    }
    f.uuid = sb->uuid;
  }
  BASALT_ASSIGN_OR_RETURN(verity::FormatResult r, verity::Format(f));
  return r.root_hash;
}

class Applier {
 public:
  Applier(PayloadSource& src, const ApplyOptions& opt, Logger& log)
      : src_(src), opt_(opt), log_(log) {}
  Result<ApplyResult> Run();

 private:
  // The steps of Run, in order.
  Status ReadSignedHead();
  Status CheckSource(const Partition& part);
  Status OpenTarget(const Partition& part);
  // The first operation to apply: 0, or where a checkpoint of this payload and target says.
  Result<size_t> Resume(const Partition& part, uint64_t* pos);
  Status ApplyOperations(const Partition& part, size_t first_op, uint64_t pos);
  Status VerifyTarget(const Partition& part);

  Status ApplyOperation(const Operation& op);

  PayloadSource& src_;
  const ApplyOptions& opt_;
  Logger& log_;
  PayloadHead head_;
  UniqueFd target_;
  UniqueFd source_;
  bool target_is_file_ = false;
  std::string manifest_hash_;    // hex, names the payload in the checkpoint
  std::string checkpoint_path_;  // empty without a state directory
  ScratchBuffer blob_;
  std::vector<uint8_t> src_buf_;
  OperationExecutor executor_;
  std::unique_ptr<InOrderHasher> partition_hash_;
  std::optional<TargetWriter> writer_;
  ApplyResult result_;
};

Status Applier::ReadSignedHead() {
  if (opt_.keyring == nullptr) return Fail(ErrorKind::kInvalidInput, "no trusted keys given");
  BASALT_ASSIGN_OR_RETURN(head_, ReadHead(src_, opt_.keyring, opt_.threshold));
  const Manifest& m = head_.manifest;
  if (m.partitions_size() != 1) {
    return Failf(ErrorKind::kUnsupported, "payload has {} partitions; only one (usr) is supported",
                 m.partitions_size());
  }
  const Partition& part = m.partitions(0);
  const uint64_t total = head_.header.blobs_offset() + m.blobs_size();
  result_.payload_size = total;
  result_.version = m.version();
  result_.from_version = m.from_version();
  result_.is_delta = !part.old_sha256().empty();
  result_.operations = part.operations_size();
  if (auto size = src_.Size(); size && *size != total) {
    return Failf(ErrorKind::kInvalidInput,
                 "payload is {} bytes but its signed manifest describes {} ({})", *size, total,
                 *size < total ? "truncated" : "unexpected data appended");
  }
  return {};
}

Status Applier::CheckSource(const Partition& part) {
  if (!opt_.source_path) {
    return Fail(ErrorKind::kInvalidInput,
                fmt::format("{}this is a delta from version {}; give the old slot with --source",
                            kSourceMismatch, head_.manifest.from_version()));
  }
  BASALT_ASSIGN_OR_RETURN(source_, OpenFile(*opt_.source_path, O_RDONLY));
  BASALT_ASSIGN_OR_RETURN(uint64_t size, FileOrDeviceSize(source_.get(), *opt_.source_path));
  if (size < part.old_size()) {
    return Fail(
        ErrorKind::kIntegrity,
        fmt::format("{}{} is {} bytes, the delta's base (version {}) is {} bytes", kSourceMismatch,
                    *opt_.source_path, size, head_.manifest.from_version(), part.old_size()));
  }
  BASALT_ASSIGN_OR_RETURN(Sha256Digest got,
                          Sha256Range(source_.get(), 0, part.old_size(), *opt_.source_path));
  if (std::memcmp(got.data(), part.old_sha256().data(), got.size()) != 0) {
    return Fail(ErrorKind::kIntegrity,
                fmt::format("{}{} is not the image this delta was made from (version {}, "
                            "root hash {}): its SHA-256 is {}, expected {}",
                            kSourceMismatch, *opt_.source_path, head_.manifest.from_version(),
                            HexOf(part.old_root_hash()), ToHex(got), HexOf(part.old_sha256())));
  }
  return {};
}

Status Applier::OpenTarget(const Partition& part) {
  auto target = OpenFile(opt_.target_path, O_RDWR | (opt_.create_target ? O_CREAT : 0), 0644);
  if (!target && target.error().sys_errno() == ENOENT) {
    return Failf(ErrorKind::kNotFound,
                 "target {} does not exist (a slot's device node is missing?); nothing written",
                 opt_.target_path);
  }
  BASALT_ASSIGN_OR_RETURN(target_, std::move(target));
  struct stat st;
  if (fstat(target_.get(), &st) != 0) return FailErrno("stat " + opt_.target_path);
  target_is_file_ = S_ISREG(st.st_mode);
  BASALT_ASSIGN_OR_RETURN(uint64_t target_size, FileOrDeviceSize(target_.get(), opt_.target_path));
  if (target_size < part.new_size()) {
    if (!S_ISREG(st.st_mode)) {
      return Failf(ErrorKind::kInvalidInput, "{} is {} bytes, the new image needs {}",
                   opt_.target_path, target_size, part.new_size());
    }
    if (ftruncate(target_.get(), static_cast<off_t>(part.new_size())) != 0) {
      return FailErrno("extend " + opt_.target_path);
    }
  }
  if (opt_.source_path && result_.is_delta) {
    struct stat sst;
    if (stat(opt_.source_path->c_str(), &sst) == 0 && sst.st_dev == st.st_dev &&
        sst.st_ino == st.st_ino) {
      return Fail(ErrorKind::kInvalidInput, "--source and --target are the same file");
    }
  }
  return {};
}

Result<size_t> Applier::Resume(const Partition& part, uint64_t* pos) {
  manifest_hash_ = ToHex(Sha256(head_.manifest_bytes));
  if (!opt_.state_dir) return 0;
  std::error_code ec;
  std::filesystem::create_directories(*opt_.state_dir, ec);
  checkpoint_path_ = *opt_.state_dir + "/" + kCheckpointName;
  auto c = LoadCheckpoint(checkpoint_path_, log_);
  if (!c) return 0;
  if (c->manifest_sha256 != manifest_hash_ || c->target != opt_.target_path ||
      c->next_operation > static_cast<uint64_t>(part.operations_size()) ||
      c->payload_offset < *pos || c->payload_offset > result_.payload_size) {
    log_.Info("checkpoint belongs to another payload or target; starting over");
    return 0;
  }
  BASALT_RETURN_IF_ERROR(src_.Skip(c->payload_offset - *pos));
  *pos = c->payload_offset;
  result_.resumed = true;
  result_.resumed_at_operation = c->next_operation;
  log_.Info(
      fmt::format("resuming at operation {} of {}", c->next_operation, part.operations_size()));
  return c->next_operation;
}

Status Applier::ApplyOperations(const Partition& part, size_t first_op, uint64_t pos) {
  partition_hash_ = std::make_unique<InOrderHasher>(part.verity().hash_offset(), part.verity());
  writer_.emplace(target_.get(), opt_.target_path, target_is_file_, *partition_hash_);
  auto last_checkpoint = std::chrono::steady_clock::now();
  for (size_t i = first_op; i < static_cast<size_t>(part.operations_size()); ++i) {
    const Operation& op = part.operations(i);
    if (auto s = ApplyOperation(op); !s) {
      return std::unexpected(std::move(s).error().WithContext(fmt::format(
          "operation {} of {} ({})", i, part.operations_size(), OperationTypeName(op.type()))));
    }
    pos += op.data_length();
    if (opt_.progress) opt_.progress(pos, result_.payload_size);
    auto now = std::chrono::steady_clock::now();
    if (!checkpoint_path_.empty() && now - last_checkpoint >= opt_.checkpoint_interval) {
      // The checkpoint may only name operations whose writes are durable.
      if (fdatasync(target_.get()) != 0) return FailErrno("fdatasync " + opt_.target_path);
      BASALT_RETURN_IF_ERROR(
          SaveCheckpoint(checkpoint_path_, {manifest_hash_, opt_.target_path, i + 1, pos}));
      last_checkpoint = now;
    }
  }
  // The boot artifacts' data follows; the caller installs them (ReadBootArtifact), but a
  // tampered blob fails the apply here too.
  BASALT_ASSIGN_OR_RETURN(uint64_t artifact_bytes, CheckBootArtifactBlobs(src_, head_));
  if (artifact_bytes > 0) {
    pos += artifact_bytes;
    if (opt_.progress) opt_.progress(pos, result_.payload_size);
  }
  uint8_t extra;
  BASALT_ASSIGN_OR_RETURN(size_t more, src_.Read(std::span(&extra, 1)));
  if (more != 0) {
    return Fail(ErrorKind::kInvalidInput,
                "payload has unexpected data after its last blob; refusing the result");
  }
  if (fsync(target_.get()) != 0) return FailErrno("fsync " + opt_.target_path);
  return {};
}

// Reads and verifies the operation's blob and source, decodes, writes.
Status Applier::ApplyOperation(const Operation& op) {
  std::span<const uint8_t> blob;
  if (op.data_length() > 0) {
    std::span<uint8_t> buf = blob_.Resize(op.data_length());
    BASALT_RETURN_IF_ERROR(
        ReadExact(src_, buf, head_.header.blobs_offset() + op.data_offset(), "operation data"));
    blob = buf;
    BASALT_RETURN_IF_ERROR(CheckDigest(blob, op.data_sha256(), ErrorKind::kIntegrity,
                                       "data (payload corrupted or tampered)"));
  }
  if (IsSourceOperation(op.type())) {
    BASALT_RETURN_IF_ERROR(ReadExtents(source_.get(), op.src_extents(), src_buf_, "read source"));
    if (auto s = CheckDigest(src_buf_, op.src_sha256(), ErrorKind::kIntegrity, "source extents");
        !s) {
      return Fail(ErrorKind::kIntegrity,
                  std::string(kSourceMismatch) + s.error().message() +
                      " (the source slot changed or is not the delta's base)");
    }
  }
  BASALT_ASSIGN_OR_RETURN(OperationExecutor::Output out, executor_.Execute(op, blob, src_buf_));
  if (out.zero) {
    BASALT_RETURN_IF_ERROR(writer_->WriteZeros(op.dst_extents()));
  } else {
    result_.peak_buffer_bytes = std::max<uint64_t>(
        result_.peak_buffer_bytes, blob_.capacity() + src_buf_.capacity() + executor_.held_bytes());
    BASALT_RETURN_IF_ERROR(writer_->Write(op.dst_extents(), out.bytes));
  }
  result_.bytes_written += ExtentBlocks(op.dst_extents()) * kBlockSize;
  return {};
}

// Verify after write: rebuild the tree and compare root hash and partition SHA-256 with the
// signed ones.
Status Applier::VerifyTarget(const Partition& part) {
  partition_hash_->Drain();
  BASALT_ASSIGN_OR_RETURN(result_.root_hash, RebuildVerityTree(opt_.target_path, part.verity(),
                                                               partition_hash_->DataDigests()));
  if (std::string(result_.root_hash.begin(), result_.root_hash.end()) !=
      part.verity().root_hash()) {
    return Failf(ErrorKind::kIntegrity, "verity root hash of {} is {}, the signed one is {}",
                 opt_.target_path, ToHex(result_.root_hash), HexOf(part.verity().root_hash()));
  }
  BASALT_ASSIGN_OR_RETURN(
      result_.partition_sha256,
      partition_hash_->Finish(target_.get(), part.new_size(), opt_.target_path));
  result_.bytes_hashed_while_writing = partition_hash_->hashed_while_writing();
  result_.peak_buffer_bytes += partition_hash_->peak_queued_bytes();
  if (std::memcmp(result_.partition_sha256.data(), part.new_sha256().data(), 32) != 0) {
    return Failf(ErrorKind::kIntegrity,
                 "SHA-256 of the new {} partition is {}, the signed one is {}", part.name(),
                 ToHex(result_.partition_sha256), HexOf(part.new_sha256()));
  }
  return {};
}

Result<ApplyResult> Applier::Run() {
  // 1. The signed head: nothing is trusted, and nothing is written, before this passes.
  BASALT_RETURN_IF_ERROR(ReadSignedHead());
  const Partition& part = head_.manifest.partitions(0);
  // 2. Deltas: the whole source must be the delta's base.
  if (result_.is_delta) BASALT_RETURN_IF_ERROR(CheckSource(part));
  // 3. The target.
  BASALT_RETURN_IF_ERROR(OpenTarget(part));
  // 4. Resume.
  uint64_t pos = head_.header.blobs_offset();
  BASALT_ASSIGN_OR_RETURN(size_t first_op, Resume(part, &pos));
  // 5. Operations.
  BASALT_RETURN_IF_ERROR(ApplyOperations(part, first_op, pos));
  // 6. Verify after write.
  BASALT_RETURN_IF_ERROR(VerifyTarget(part));
  if (!checkpoint_path_.empty()) {
    unlink(checkpoint_path_.c_str());
    BASALT_RETURN_IF_ERROR(FsyncDirectory(*opt_.state_dir));
  }
  return result_;
}

}  // namespace

Result<ApplyResult> ApplyPayload(PayloadSource& payload, const ApplyOptions& options, Logger& log) {
  Applier a(payload, options, log);
  auto r = a.Run();
  if (!r) return std::unexpected(std::move(r).error().WithContext("apply payload"));
  return r;
}

bool IsSourceMismatch(const Error& error) {
  return error.message().find(kSourceMismatch) != std::string::npos ||
         error.message().find(kNotReproducible) != std::string::npos ||
         error.message().find(kNewerMinorVersion) != std::string::npos;
}

}  // namespace basalt::payload
