// The SHA-256 of the new partition and the verity digests of its data blocks, computed from the
// bytes as they are written, on a thread of their own.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/hash.h"
#include "payload/format.h"

namespace basalt::payload {

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
  InOrderHasher(uint64_t data_end, const proto::VerityParams& v);
  ~InOrderHasher() { Stop(); }
  InOrderHasher(const InOrderHasher&) = delete;
  InOrderHasher& operator=(const InOrderHasher&) = delete;

  // Bytes written at `offset`; hashed when they continue the in-order prefix.
  void Wrote(uint64_t offset, std::span<const uint8_t> data);

  // Hashes [next, size) from the target (what the writes did not cover in order) and returns
  // the digest of the whole partition.
  Result<Sha256Digest> Finish(int fd, uint64_t size, const std::string& name);

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

  void Work();
  // Chunks arrive in order and block-aligned (operations write whole blocks).
  void HashBlocks(std::span<const uint8_t> chunk);
  // Drains the queue and joins the worker; afterwards hasher_ belongs to this thread.
  void Stop();

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
  std::optional<Error> failed_;  // what the hashing thread threw (under mu_)
  std::thread worker_;           // started last, in the constructor body
};

}  // namespace basalt::payload
