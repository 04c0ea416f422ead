#include "in_order_hasher.h"

#include <algorithm>

#include "common/fd.h"
#include "common/run_catching.h"

namespace basalt::payload {

InOrderHasher::InOrderHasher(uint64_t data_end, const proto::VerityParams& v)
    : data_end_(data_end), verity_blocks_(v.data_blocks()) {
  auto alg = ParseHashAlgorithm(v.hash_algorithm());
  if (alg && v.data_block_size() == kBlockSize && verity_blocks_ * kBlockSize <= data_end_) {
    salted_.emplace(*alg);
    salted_->Update(std::span(reinterpret_cast<const uint8_t*>(v.salt().data()), v.salt().size()));
    block_hasher_.emplace(*alg);
    digests_.resize(verity_blocks_ * salted_->digest_size());
  }
  worker_ = std::thread([this] {
    Status s = RunCatching("hash thread", [this] { Work(); });
    if (!s) {
      // The writer must not wait for room that will never come; Finish reports the failure.
      std::lock_guard lock(mu_);
      failed_ = std::move(s).error();
      queue_.clear();
      room_.notify_all();
    }
  });
}

void InOrderHasher::Wrote(uint64_t offset, std::span<const uint8_t> data) {
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
    room_.wait(lock, [&] { return queue_.size() < kMaxQueuedPieces || failed_; });
    if (failed_) return;
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

Result<Sha256Digest> InOrderHasher::Finish(int fd, uint64_t size, const std::string& name) {
  Stop();
  if (failed_) return std::unexpected(*failed_);
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

void InOrderHasher::Work() {
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

void InOrderHasher::HashBlocks(std::span<const uint8_t> chunk) {
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

void InOrderHasher::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_.notify_one();
  if (worker_.joinable()) worker_.join();
}

}  // namespace basalt::payload
