#include "payload/applier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hex.h"
#include "common/scratch_buffer.h"
#include "payload/bspatch.h"
#include "payload/codec.h"
#include "payload/gzip_region.h"
#include "payload/lz4_region.h"
#include "payload/reader.h"
#include "verity/verity.h"

namespace basalt::payload {
namespace {

constexpr std::string_view kSourceMismatch = "delta source mismatch: ";
// A SOURCE_LZ4_PATCH whose recompression on this host does not give the signed bytes (another
// liblz4 than the generator's): the delta cannot be used here, the full payload can.
constexpr std::string_view kNotReproducible = "delta cannot be rebuilt on this host: ";
constexpr const char* kCheckpointName = "payload-apply.json";

struct Checkpoint {
  std::string manifest_sha256;
  std::string target;
  uint64_t next_operation = 0;
  uint64_t payload_offset = 0;
};

std::string HexOf(const std::string& bytes) {
  return ToHex(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

std::optional<Checkpoint> LoadCheckpoint(const std::string& path, Logger& log) {
  auto text = ReadFileToString(path);
  if (!text) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(*text);
    Checkpoint c;
    c.manifest_sha256 = j.at("manifest_sha256").get<std::string>();
    c.target = j.at("target").get<std::string>();
    c.next_operation = j.at("next_operation").get<uint64_t>();
    c.payload_offset = j.at("payload_offset").get<uint64_t>();
    return c;
  } catch (const nlohmann::json::exception& e) {
    log.Warn(fmt::format("ignoring unreadable checkpoint {}: {}", path, e.what()));
    return std::nullopt;
  }
}

Status SaveCheckpoint(const std::string& path, const Checkpoint& c) {
  nlohmann::json j = {{"manifest_sha256", c.manifest_sha256},
                      {"target", c.target},
                      {"next_operation", c.next_operation},
                      {"payload_offset", c.payload_offset}};
  return WriteFileAtomic(path, j.dump() + "\n", 0600);
}

Status ReadExtents(int fd, const google::protobuf::RepeatedPtrField<proto::Extent>& extents,
                   std::vector<uint8_t>& buf, std::string_view what) {
  buf.resize(ExtentBlocks(extents) * kBlockSize);
  size_t pos = 0;
  for (const auto& e : extents) {
    std::span<uint8_t> dst(buf.data() + pos, e.num_blocks() * kBlockSize);
    BASALT_RETURN_IF_ERROR(PreadFull(fd, dst, e.start_block() * kBlockSize, what));
    pos += dst.size();
  }
  return {};
}

Lz4Region RegionOf(const proto::Lz4Region& r) {
  return {r.offset(), r.compressed_length(), r.decompressed_length(), static_cast<int>(r.level())};
}

Status CheckDigest(std::span<const uint8_t> data, const std::string& expected, ErrorKind kind,
                   std::string_view what) {
  Sha256Digest got = Sha256(data);
  if (expected.size() != got.size() || std::memcmp(expected.data(), got.data(), got.size()) != 0) {
    return Failf(kind, "{}: SHA-256 {} does not match the signed {}", what, ToHex(got),
                 HexOf(expected));
  }
  return {};
}

// The SHA-256 of the new partition, computed from the bytes as they are written while the
// writes arrive in order (full payloads always do; deltas until their first out-of-order file
// operation), so the common case hashes each byte once instead of reading the slot back. Only
// the data area [0, data_end) is hashed here: the superblock and tree behind it are rewritten
// by the verity engine and read back afterwards, so the digest always describes the disk.
// The hashing runs on its own thread over copies of the written bytes (at most kMaxQueued
// bytes behind): SHA-256 of the whole slot is a third of a full apply's CPU time, and the raw
// `zstd -dc | dd` pipeline we are measured against hashes nothing. The same thread computes
// the verity digest of every data block (hash(salt || block)), so the tree's level 0 needs no
// second pass over the slot after the last write.
class InOrderHasher {
 public:
  InOrderHasher(uint64_t data_end, const proto::VerityParams& v)
      : data_end_(data_end), verity_blocks_(v.data_blocks()) {
    auto alg = ParseHashAlgorithm(v.hash_algorithm());
    if (alg && v.data_block_size() == kBlockSize && verity_blocks_ * kBlockSize <= data_end_) {
      salted_.emplace(*alg);
      salted_->Update(
          std::span(reinterpret_cast<const uint8_t*>(v.salt().data()), v.salt().size()));
      block_hasher_.emplace(*alg);
      digests_.resize(verity_blocks_ * salted_->digest_size());
    }
    worker_ = std::thread([this] { Work(); });
  }
  ~InOrderHasher() { Stop(); }
  InOrderHasher(const InOrderHasher&) = delete;
  InOrderHasher& operator=(const InOrderHasher&) = delete;

  void Wrote(uint64_t offset, std::span<const uint8_t> data) {
    if (!in_order_ || next_ >= data_end_) return;
    if (offset != next_) {
      in_order_ = false;  // from here on the rest is read back at the end
      return;
    }
    data = data.first(static_cast<size_t>(std::min<uint64_t>(data.size(), data_end_ - next_)));
    // Fixed-size pieces in recycled buffers: a fresh allocation per chunk made the copy pay a
    // page fault every 4 KiB, which cost more than the copy itself.
    for (size_t pos = 0; pos < data.size(); pos += kPiece) {
      auto piece = data.subspan(pos, std::min(kPiece, data.size() - pos));
      std::unique_lock lock(mu_);
      room_.wait(lock, [&] { return queue_.size() < kMaxQueuedPieces; });
      std::vector<uint8_t> buf;
      if (!spare_.empty()) {
        buf = std::move(spare_.back());
        spare_.pop_back();
      } else {
        buf.reserve(kPiece);
        ++buffers_;
      }
      buf.assign(piece.begin(), piece.end());
      queue_.push_back(std::move(buf));
      next_ += piece.size();
      work_.notify_one();
    }
  }

  // Hashes [next, size) from the target (what the writes did not cover in order) and returns
  // the digest of the whole partition.
  Result<Sha256Digest> Finish(int fd, uint64_t size, const std::string& name) {
    Stop();
    std::vector<uint8_t> buf(std::min<uint64_t>(size - std::min(size, next_), 1ull << 20));
    for (uint64_t off = next_; off < size;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - off));
      BASALT_RETURN_IF_ERROR(PreadFull(fd, std::span(buf.data(), n), off, name));
      hasher_.Update(std::span(buf.data(), n));
      off += n;
    }
    Sha256Digest d;
    hasher_.Final(d.data());
    return d;
  }

  uint64_t hashed_while_writing() const { return next_; }

  // The verity digests of all data blocks when every one of them was written in order; call
  // after Drain().
  std::span<const uint8_t> DataDigests() const {
    if (!salted_ || !in_order_ || next_ < verity_blocks_ * kBlockSize) return {};
    return digests_;
  }

  // Waits until everything queued is hashed; no more Wrote() calls may follow.
  void Drain() { Stop(); }
  // The buffers handing copies to the hashing thread, plus the verity digests it keeps (32
  // bytes per 4 KiB block): its part of the memory bound.
  uint64_t peak_queued_bytes() {
    std::lock_guard lock(mu_);
    return buffers_ * kPiece + digests_.size();
  }

 private:
  static constexpr size_t kPiece = 1 << 20;
  // At most this many pieces wait, and one more is being hashed: the buffers never exceed
  // (kMaxQueuedPieces + 1) * kPiece, however small the writes.
  static constexpr size_t kMaxQueuedPieces = 4;

  void Work() {
    std::unique_lock lock(mu_);
    while (true) {
      work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is hashed
      std::vector<uint8_t> chunk = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      hasher_.Update(chunk);
      HashBlocks(chunk);
      lock.lock();
      spare_.push_back(std::move(chunk));
      room_.notify_one();
    }
  }

  // Chunks arrive in order and block-aligned (operations write whole blocks).
  void HashBlocks(std::span<const uint8_t> chunk) {
    if (!salted_) return;
    const size_t ds = salted_->digest_size();
    for (size_t off = 0; off + kBlockSize <= chunk.size(); off += kBlockSize) {
      const uint64_t block = (worker_offset_ + off) / kBlockSize;
      if (block >= verity_blocks_) break;
      block_hasher_->CopyStateFrom(*salted_);
      block_hasher_->Update(chunk.subspan(off, kBlockSize));
      block_hasher_->Final(digests_.data() + block * ds);
    }
    worker_offset_ += chunk.size();
  }

  // Drains the queue and joins the worker; afterwards hasher_ belongs to this thread.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    work_.notify_one();
    if (worker_.joinable()) worker_.join();
  }

  Hasher hasher_{HashAlgorithm::kSha256};
  uint64_t data_end_;
  uint64_t next_ = 0;
  bool in_order_ = true;
  std::mutex mu_;
  std::condition_variable work_, room_;
  std::deque<std::vector<uint8_t>> queue_;
  std::vector<std::vector<uint8_t>> spare_;
  uint64_t buffers_ = 0;  // allocated so far, at most kMaxQueuedPieces + 1
  bool stop_ = false;
  // Verity level 0, filled by the worker.
  uint64_t verity_blocks_;
  std::optional<Hasher> salted_, block_hasher_;
  std::vector<uint8_t> digests_;
  uint64_t worker_offset_ = 0;
  std::thread worker_;  // started last, in the constructor body
};

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
  Status CheckSource(const Partition& part);
  Status ApplyOperation(const Operation& op, size_t index);
  Status ApplyLz4Patch(const Operation& op, std::span<const uint8_t> blob, size_t dst_bytes);
  Status ApplyGzipPatch(const Operation& op, std::span<const uint8_t> blob, size_t dst_bytes);
  Status PatchExpanded(const Operation& op, std::span<const uint8_t> blob,
                       std::span<const uint8_t> src, std::span<uint8_t> dst);
  Status CheckRebuilt(const Operation& op, std::span<const uint8_t> rebuilt, size_t dst_bytes,
                      std::string_view why);
  Status WriteExtents(const google::protobuf::RepeatedPtrField<proto::Extent>& extents,
                      std::span<const uint8_t> data);
  Status WriteZeros(const google::protobuf::RepeatedPtrField<proto::Extent>& extents);
  void StartWriteback(uint64_t off, uint64_t len);

  PayloadSource& src_;
  const ApplyOptions& opt_;
  Logger& log_;
  PayloadHead head_;
  UniqueFd target_;
  UniqueFd source_;
  ScratchBuffer blob_, out_;
  std::vector<uint8_t> src_buf_;
  ZstdDecoder zstd_;
  ApplyResult result_;
  std::unique_ptr<InOrderHasher> partition_hash_;
  // The range written since writeback was last started; empty when end == 0.
  uint64_t unflushed_begin_ = 0, unflushed_end_ = 0;
  bool target_is_file_ = false;
};

// Starts the kernel writing back each few MiB as soon as they are written, so the disk works
// while we decode and the final fsync waits only for the tail. Without it nothing is written
// until the fsync (dirty_background_ratio is far above a slot's size): on the benchmark (a
// file target) the median apply went from 0.74 s to 0.69 s. Regular files only: on a loop
// device the same kick made the apply slower (0.85 s -> 1.2-1.4 s; the loop worker writes the
// backing file on our CPUs and the submission blocks), and it is unmeasured on real disks.
// Advisory: an error here only loses the overlap.
void Applier::StartWriteback(uint64_t off, uint64_t len) {
  constexpr uint64_t kWritebackBatch = 8ull << 20;
  if (!target_is_file_) return;
  if (unflushed_end_ == 0) {
    unflushed_begin_ = off;
    unflushed_end_ = off + len;
  } else {
    unflushed_begin_ = std::min(unflushed_begin_, off);
    unflushed_end_ = std::max(unflushed_end_, off + len);
  }
  if (unflushed_end_ - unflushed_begin_ < kWritebackBatch) return;
  (void)sync_file_range(target_.get(), static_cast<off_t>(unflushed_begin_),
                        static_cast<off_t>(unflushed_end_ - unflushed_begin_),
                        SYNC_FILE_RANGE_WRITE);
  unflushed_end_ = 0;
}

Status Applier::WriteExtents(const google::protobuf::RepeatedPtrField<proto::Extent>& extents,
                             std::span<const uint8_t> data) {
  size_t pos = 0;
  for (const auto& e : extents) {
    auto part = data.subspan(pos, e.num_blocks() * kBlockSize);
    const uint64_t off = e.start_block() * kBlockSize;
    BASALT_RETURN_IF_ERROR(PwriteFull(target_.get(), part, off, opt_.target_path));
    StartWriteback(off, part.size());
    partition_hash_->Wrote(off, part);
    pos += part.size();
  }
  return {};
}

Status Applier::WriteZeros(const google::protobuf::RepeatedPtrField<proto::Extent>& extents) {
  static const std::vector<uint8_t> kZeros(1 << 20, 0);
  for (const auto& e : extents) {
    uint64_t off = e.start_block() * kBlockSize;
    uint64_t left = e.num_blocks() * kBlockSize;
    while (left > 0) {
      auto part =
          std::span(kZeros.data(), static_cast<size_t>(std::min<uint64_t>(left, kZeros.size())));
      BASALT_RETURN_IF_ERROR(PwriteFull(target_.get(), part, off, opt_.target_path));
      StartWriteback(off, part.size());
      partition_hash_->Wrote(off, part);
      off += part.size();
      left -= part.size();
    }
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

Status Applier::ApplyOperation(const Operation& op, size_t index) {
  const size_t dst_bytes = ExtentBlocks(op.dst_extents()) * kBlockSize;
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
  std::span<const uint8_t> data;
  std::span<uint8_t> out;
  switch (op.type()) {
    case Operation::REPLACE:
      data = blob;
      break;
    case Operation::ZERO:
      BASALT_RETURN_IF_ERROR(WriteZeros(op.dst_extents()));
      result_.bytes_written += dst_bytes;
      return {};
    case Operation::SOURCE_COPY:
      data = src_buf_;
      break;
    case Operation::REPLACE_ZSTD:
      out = out_.Resize(dst_bytes);
      BASALT_RETURN_IF_ERROR(zstd_.DecompressExact(blob, out));
      data = out;
      break;
    case Operation::REPLACE_XZ:
      out = out_.Resize(dst_bytes);
      BASALT_RETURN_IF_ERROR(XzDecompressExact(blob, out));
      data = out;
      break;
    case Operation::SOURCE_ZSTD_PATCH:
      out = out_.Resize(dst_bytes);
      BASALT_RETURN_IF_ERROR(zstd_.DecompressExact(blob, out, src_buf_));
      data = out;
      break;
    case Operation::SOURCE_BSDIFF:
      out = out_.Resize(dst_bytes);
      BASALT_RETURN_IF_ERROR(ApplyBsdiff(src_buf_, blob, out));
      data = out;
      break;
    case Operation::SOURCE_BSDIFF_XZ:
      out = out_.Resize(dst_bytes);
      BASALT_RETURN_IF_ERROR(ApplyBsdiffXz(src_buf_, blob, out));
      data = out;
      break;
    case Operation::SOURCE_LZ4_PATCH:
      BASALT_RETURN_IF_ERROR(ApplyLz4Patch(op, blob, dst_bytes));
      data = out_.span();
      break;
    case Operation::SOURCE_GZIP_PATCH:
      BASALT_RETURN_IF_ERROR(ApplyGzipPatch(op, blob, dst_bytes));
      data = out_.span();
      break;
    default:
      return Failf(ErrorKind::kUnsupported, "operation type {} unsupported",
                   static_cast<int>(op.type()));
  }
  result_.peak_buffer_bytes = std::max<uint64_t>(
      result_.peak_buffer_bytes, blob_.capacity() + out_.capacity() + src_buf_.capacity());
  (void)index;
  BASALT_RETURN_IF_ERROR(WriteExtents(op.dst_extents(), data));
  result_.bytes_written += dst_bytes;
  return {};
}

// Expand the (verified) source, patch its expansion into the destination's, recompress, and
// check the result against the signed destination SHA-256 before it may be written.
Status Applier::ApplyLz4Patch(const Operation& op, std::span<const uint8_t> blob,
                              size_t dst_bytes) {
  const Lz4Region src_region = RegionOf(op.src_lz4()), dst_region = RegionOf(op.dst_lz4());
  BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> src_expanded, ExpandLz4Region(src_buf_, src_region));
  std::vector<uint8_t> dst_expanded(dst_bytes - dst_region.compressed_length +
                                    dst_region.decompressed_length);
  BASALT_RETURN_IF_ERROR(PatchExpanded(op, blob, src_expanded, dst_expanded));
  result_.peak_buffer_bytes =
      std::max<uint64_t>(result_.peak_buffer_bytes, blob_.capacity() + src_buf_.capacity() +
                                                        src_expanded.size() + dst_expanded.size());
  src_expanded = {};
  auto contracted = ContractLz4Region(dst_expanded, dst_region);
  if (!contracted) {
    return Fail(ErrorKind::kIntegrity,
                std::string(kNotReproducible) + contracted.error().message());
  }
  return CheckRebuilt(op, *contracted, dst_bytes, "this host's liblz4 compresses differently");
}

// The patch between the expanded forms of an LZ4 or gzip operation, in its declared encoding.
Status Applier::PatchExpanded(const Operation& op, std::span<const uint8_t> blob,
                              std::span<const uint8_t> src, std::span<uint8_t> dst) {
  if (op.expanded_patch() == Operation::BSDIFF_XZ) return ApplyBsdiffXz(src, blob, dst);
  return zstd_.DecompressExact(blob, dst, src);
}

// The same for a gzip member, recompressed by this host's gzip.
Status Applier::ApplyGzipPatch(const Operation& op, std::span<const uint8_t> blob,
                               size_t dst_bytes) {
  const auto src_regions = GzipRegionsOf(op.src_gzip()), dst_regions = GzipRegionsOf(op.dst_gzip());
  // Validated with the manifest already; checked again because the sizes below rely on it.
  BASALT_RETURN_IF_ERROR(CheckGzipRegions(dst_regions, dst_bytes));
  BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> src_expanded,
                          ExpandGzipRegions(src_buf_, src_regions));
  std::vector<uint8_t> dst_expanded(ExpandedGzipSize(dst_bytes, dst_regions));
  BASALT_RETURN_IF_ERROR(PatchExpanded(op, blob, src_expanded, dst_expanded));
  result_.peak_buffer_bytes =
      std::max<uint64_t>(result_.peak_buffer_bytes, blob_.capacity() + src_buf_.capacity() +
                                                        src_expanded.size() + dst_expanded.size());
  src_expanded = {};
  auto contracted = ContractGzipRegions(dst_expanded, dst_regions);
  if (!contracted) {
    return Fail(ErrorKind::kIntegrity,
                std::string(kNotReproducible) + contracted.error().message());
  }
  return CheckRebuilt(op, *contracted, dst_bytes,
                      fmt::format("this host's {} compresses differently", kGzipTool));
}

// A destination rebuilt by a compressor on this host must be exactly the signed bytes before it
// may be written; otherwise the delta is unusable here (the full payload still is).
Status Applier::CheckRebuilt(const Operation& op, std::span<const uint8_t> rebuilt,
                             size_t dst_bytes, std::string_view why) {
  if (rebuilt.size() != dst_bytes) {
    return Failf(ErrorKind::kIntegrity, "{}recompressed destination is {} bytes, not {}",
                 kNotReproducible, rebuilt.size(), dst_bytes);
  }
  if (auto s =
          CheckDigest(rebuilt, op.dst_sha256(), ErrorKind::kIntegrity, "recompressed destination");
      !s) {
    return Fail(ErrorKind::kIntegrity,
                fmt::format("{}{} ({})", kNotReproducible, s.error().message(), why));
  }
  std::ranges::copy(rebuilt, out_.Resize(rebuilt.size()).begin());
  return {};
}

Result<ApplyResult> Applier::Run() {
  if (opt_.keyring == nullptr) return Fail(ErrorKind::kInvalidInput, "no trusted keys given");
  // 1. The signed head: nothing is trusted, and nothing is written, before this passes.
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
  // 2. Deltas: the whole source must be the delta's base.
  if (result_.is_delta) BASALT_RETURN_IF_ERROR(CheckSource(part));

  // 3. The target.
  BASALT_ASSIGN_OR_RETURN(target_, OpenFile(opt_.target_path, O_RDWR | O_CREAT, 0644));
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

  // 4. Resume.
  const std::string manifest_hash = ToHex(Sha256(head_.manifest_bytes));
  std::string checkpoint_path;
  size_t first_op = 0;
  uint64_t pos = head_.header.blobs_offset();
  if (opt_.state_dir) {
    std::error_code ec;
    std::filesystem::create_directories(*opt_.state_dir, ec);
    checkpoint_path = *opt_.state_dir + "/" + kCheckpointName;
    if (auto c = LoadCheckpoint(checkpoint_path, log_)) {
      if (c->manifest_sha256 == manifest_hash && c->target == opt_.target_path &&
          c->next_operation <= static_cast<uint64_t>(part.operations_size()) &&
          c->payload_offset >= pos && c->payload_offset <= total) {
        first_op = c->next_operation;
        BASALT_RETURN_IF_ERROR(src_.Skip(c->payload_offset - pos));
        pos = c->payload_offset;
        result_.resumed = true;
        result_.resumed_at_operation = first_op;
        log_.Info(fmt::format("resuming at operation {} of {}", first_op, part.operations_size()));
      } else {
        log_.Info("checkpoint belongs to another payload or target; starting over");
      }
    }
  }

  // 5. Operations.
  partition_hash_ = std::make_unique<InOrderHasher>(part.verity().hash_offset(), part.verity());
  auto last_checkpoint = std::chrono::steady_clock::now();
  for (size_t i = first_op; i < static_cast<size_t>(part.operations_size()); ++i) {
    const Operation& op = part.operations(i);
    if (auto s = ApplyOperation(op, i); !s) {
      return std::unexpected(std::move(s).error().WithContext(fmt::format(
          "operation {} of {} ({})", i, part.operations_size(), OperationTypeName(op.type()))));
    }
    pos += op.data_length();
    if (opt_.progress) opt_.progress(pos, total);
    auto now = std::chrono::steady_clock::now();
    if (!checkpoint_path.empty() && now - last_checkpoint >= opt_.checkpoint_interval) {
      // The checkpoint may only name operations whose writes are durable.
      if (fdatasync(target_.get()) != 0) return FailErrno("fdatasync " + opt_.target_path);
      BASALT_RETURN_IF_ERROR(
          SaveCheckpoint(checkpoint_path, {manifest_hash, opt_.target_path, i + 1, pos}));
      last_checkpoint = now;
    }
  }
  uint8_t extra;
  BASALT_ASSIGN_OR_RETURN(size_t more, src_.Read(std::span(&extra, 1)));
  if (more != 0) {
    return Fail(ErrorKind::kInvalidInput,
                "payload has unexpected data after its last blob; refusing the result");
  }
  if (fsync(target_.get()) != 0) return FailErrno("fsync " + opt_.target_path);

  // 6. Verify after write: rebuild the tree and compare with the signed values.
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
  if (!checkpoint_path.empty()) {
    unlink(checkpoint_path.c_str());
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
