// GeneratePayload: loads the keys and images, plans (full_planner.h, delta_planner.h), encodes
// the plan's segments on worker threads (segment_encoder.h) into the payload writer in plan
// order, checks the manifest against the format's own rules, signs and writes.
#include "payload/generator.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "anchor_index.h"
#include "bsdiff_runner.h"
#include "codec_choice.h"
#include "common/hex.h"
#include "delta_planner.h"
#include "encode_context.h"
#include "full_planner.h"
#include "inputs.h"
#include "ordered_pool.h"
#include "payload/boot_artifacts.h"
#include "payload/codec.h"
#include "payload/format.h"
#include "payload_writer.h"
#include "segment_encoder.h"
#include "signer.h"

namespace basalt::payload {
namespace {

class Generator {
 public:
  Generator(const GenerateOptions& o, Logger& log) : opt_(o), log_(log) {}

  Result<GenerateResult> Run();

 private:
  // The steps of Run, in order.
  void StartManifest();
  Status Plan();
  Status EncodeOperations();
  Status AddBootArtifacts();
  Status CheckManifest() const;
  GenerateResult Describe();

  // Places an encoded operation: its blob in the blob file, the operation in the manifest.
  Status AddOperation(PlannedOp&& p);

  const GenerateOptions& opt_;
  Logger& log_;
  std::optional<Signer> signer_;
  Inputs in_;
  Manifest manifest_;
  Partition* part_ = nullptr;
  AnchorIndex anchors_;
  std::vector<Segment> segments_;
  std::optional<PayloadWriter> writer_;
  std::map<std::string, OpTypeStats> stats_;
  uint32_t minor_version_ = kMinorFull;
};

// The manifest's fields that describe the images (everything but the operations).
void Generator::StartManifest() {
  const UsrImageInfo& info = in_.new_info;
  manifest_.set_block_size(kBlockSize);
  manifest_.set_version(info.version);
  manifest_.set_created(opt_.created.value_or(static_cast<uint64_t>(time(nullptr))));
  part_ = manifest_.add_partitions();
  part_->set_name("usr");
  part_->set_new_size(info.size);
  part_->set_new_sha256(DigestString(info.sha256));
  auto* v = part_->mutable_verity();
  v->set_hash_algorithm(info.hash_algorithm);
  v->set_salt(std::string(info.salt.begin(), info.salt.end()));
  v->set_data_block_size(info.data_block_size);
  v->set_hash_block_size(info.hash_block_size);
  v->set_data_blocks(info.data_blocks);
  v->set_hash_offset(info.hash_offset);
  v->set_root_hash(std::string(info.root_hash.begin(), info.root_hash.end()));
  v->set_has_superblock(in_.has_superblock);
  if (in_.old_info) {
    manifest_.set_from_version(in_.old_info->version);
    part_->set_old_size(in_.old_info->size);
    part_->set_old_sha256(DigestString(in_.old_info->sha256));
    part_->set_old_root_hash(
        std::string(in_.old_info->root_hash.begin(), in_.old_info->root_hash.end()));
  }
}

// image.json's hashes are trusted for the manifest; each image must be the file it describes.
Status Generator::Plan() {
  if (in_.is_delta()) {
    BASALT_RETURN_IF_ERROR(CheckImageHash(*in_.old_info, in_.old_bytes));
    segments_ = PlanDelta(opt_, in_, anchors_, log_);
  } else {
    segments_ = PlanFull(in_.new_bytes, in_.shipped_blocks, opt_.chunk_size);
  }
  return CheckImageHash(in_.new_info, in_.new_bytes);
}

Status Generator::AddOperation(PlannedOp&& p) {
  BASALT_RETURN_IF_ERROR(writer_->AddBlob(p));
  minor_version_ = std::max(minor_version_, MinorVersionFor(p.op));
  auto& st = stats_[std::string(OperationTypeName(p.op.type()))];
  st.count++;
  st.data_bytes += p.blob.size();
  st.dst_bytes += ExtentBlocks(p.op.dst_extents()) * kBlockSize;
  *part_->add_operations() = std::move(p.op);
  return {};
}

// Segments are encoded on worker threads and placed strictly in plan order, so the payload's
// bytes do not depend on the thread count.
Status Generator::EncodeOperations() {
  std::filesystem::path out_dir = std::filesystem::path(opt_.output_path).parent_path();
  if (out_dir.empty()) out_dir = ".";
  writer_.emplace(opt_.output_path);
  BASALT_RETURN_IF_ERROR(writer_->Open());
  BsdiffRunner bsdiff(out_dir.string(), log_);
  const CodecChoice codecs(opt_, in_.is_delta(), bsdiff);
  const EncodeContext ctx{opt_, in_, anchors_, codecs, bsdiff, log_};
  const unsigned threads =
      opt_.threads ? opt_.threads : std::max(1u, std::thread::hardware_concurrency());
  std::function<Result<std::vector<PlannedOp>>(size_t)> encode = [&](size_t i) {
    return EncodeSegment(ctx, segments_[i], i);
  };
  std::function<Status(size_t, std::vector<PlannedOp> &&)> place =
      [&](size_t, std::vector<PlannedOp>&& ops) -> Status {
    for (PlannedOp& p : ops)
      BASALT_RETURN_IF_ERROR(AddOperation(std::move(p)));
    return {};
  };
  // Deltas declare at least kMinorDelta (what they always declared); higher minor versions
  // only when an operation needs them, so deltas without kernels stay appliable by older hosts.
  minor_version_ = in_.is_delta() ? kMinorDelta : kMinorFull;
  BASALT_RETURN_IF_ERROR(RunOrdered(segments_.size(), threads, threads * 4, encode, place));
  BASALT_RETURN_IF_ERROR(AddBootArtifacts());
  manifest_.set_blobs_size(writer_->blobs_size());
  return writer_->SyncBlobs();
}

// The image's UKIs, after the operations' data: slot A's as a zstd frame, slot B's (the same
// but for its command line's PARTUUID and its signature) as a frame with A's bytes as prefix
// dictionary, so it costs a few hundred bytes. A delta carries them whole as well: a host's old
// UKI is not a source the applier reads.
Status Generator::AddBootArtifacts() {
  if (in_.new_info.ukis.empty()) return {};
  if (opt_.max_minor_version < kMinorBootArtifacts) {
    return Failf(ErrorKind::kInvalidInput,
                 "{} has UKIs, which need payload minor version {}; the highest allowed is {}",
                 opt_.new_image_dir, kMinorBootArtifacts, opt_.max_minor_version);
  }
  std::vector<uint8_t> first;
  std::string first_name;
  for (const UkiFile& uki : in_.new_info.ukis) {
    if (uki.size > kMaxBootArtifactSize) {
      return Failf(ErrorKind::kInvalidInput, "UKI {} is {} bytes, more than the payload's {}",
                   uki.path, uki.size, kMaxBootArtifactSize);
    }
    BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadUkiFile(uki));
    BootArtifact& a = *manifest_.add_boot_artifacts();
    a.set_name(UkiArtifactName(uki.slot));
    a.set_size(bytes.size());
    a.set_sha256(DigestString(Sha256(bytes)));
    if (!first.empty()) {
      a.set_encoding(BootArtifact::ZSTD_PREFIX);
      a.set_dictionary(first_name);
    }
    BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> blob,
                            ZstdCompress(bytes, opt_.full_zstd_level, first));
    BASALT_RETURN_IF_ERROR(writer_->AddBlob(a, blob));
    log_.Info(fmt::format("boot artifact {}: {} bytes in {} bytes of payload", a.name(),
                          bytes.size(), blob.size()));
    if (first.empty()) {
      first = std::move(bytes);
      first_name = a.name();
    }
  }
  minor_version_ = std::max(minor_version_, kMinorBootArtifacts);
  return {};
}

// Never emit a payload our own applier would refuse.
Status Generator::CheckManifest() const {
  if (auto s = ValidateManifest(manifest_, minor_version_); !s) {
    return Fail(ErrorKind::kInternal,
                "generated manifest is invalid (bug): " + s.error().message());
  }
  return {};
}

GenerateResult Generator::Describe() {
  GenerateResult result;
  result.path = opt_.output_path;
  result.is_delta = in_.is_delta();
  result.to_version = in_.new_info.version;
  if (in_.old_info) {
    result.from_version = in_.old_info->version;
    result.from_root_hash = ToHex(in_.old_info->root_hash);
  }
  result.ops = std::move(stats_);
  return result;
}

Result<GenerateResult> Generator::Run() {
  BASALT_ASSIGN_OR_RETURN(signer_, Signer::Load(opt_.keys));
  BASALT_ASSIGN_OR_RETURN(in_, LoadInputs(opt_));
  const auto started = std::chrono::steady_clock::now();
  StartManifest();
  BASALT_RETURN_IF_ERROR(Plan());
  BASALT_RETURN_IF_ERROR(EncodeOperations());
  BASALT_RETURN_IF_ERROR(CheckManifest());
  GenerateResult result = Describe();
  BASALT_RETURN_IF_ERROR(writer_->Write(manifest_, minor_version_, *signer_, result));
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log_.Info(fmt::format("wrote {} payload {} ({} bytes, {} operations) in {:.1f}s",
                        result.is_delta ? "delta" : "full", result.path, result.size,
                        part_->operations_size(), secs));
  return result;
}

}  // namespace

Result<GenerateResult> GeneratePayload(const GenerateOptions& options, Logger& log) {
  Generator g(options, log);
  auto r = g.Run();
  if (!r) return std::unexpected(std::move(r).error().WithContext("generate payload"));
  return r;
}

}  // namespace basalt::payload
