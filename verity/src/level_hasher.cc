#include "level_hasher.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "common/run_catching.h"

namespace basalt::verity {

SaltedHasher::SaltedHasher(HashAlgorithm alg, std::span<const uint8_t> salt)
    : prefix_(alg), work_(alg) {
  prefix_.Update(salt);
}

void SaltedHasher::Hash(std::span<const uint8_t> block, uint8_t* out) {
  work_.CopyStateFrom(prefix_);
  work_.Update(block);
  work_.Final(out);
}

unsigned DefaultThreads() {
  return std::clamp(std::thread::hardware_concurrency(), 1u, 64u);
}

namespace {

// Work is handed out chunk by chunk from an atomic counter, so a core slowed by other load
// simply takes fewer chunks. Chunks are claimed in increasing order, which lets CheckLevel stop
// once every chunk before the first mismatch is done.
class LevelRunner {
 public:
  LevelRunner(const VerityParams& params, const TreeGeometry& geometry, const LevelIo& io,
              bool check)
      : params_(params), geometry_(geometry), io_(io), check_(check) {
    const size_t chunk = io.map_input ? kMappedChunkBytes : kChunkBytes;
    blocks_per_chunk_ = std::max<uint64_t>(1, chunk / io.in_block_size);
    chunks_ = (io.in_blocks + blocks_per_chunk_ - 1) / blocks_per_chunk_;
  }

  Status Run(unsigned threads) {
    threads = static_cast<unsigned>(std::clamp<uint64_t>(chunks_, 1, std::max(threads, 1u)));
    if (threads == 1) {
      Worker();
    } else {
      std::vector<std::jthread> pool;
      pool.reserve(threads);
      for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([this] {
          if (Status s = RunCatching("verity hash thread", [this] { Worker(); }); !s) {
            RecordError(std::move(s).error());
          }
        });
    }
    if (error_) return std::unexpected(*error_);
    return {};
  }

  LevelCheck check_result() const {
    LevelCheck r;
    if (uint64_t b = first_bad_.load(); b != kNone) r.first_bad_block = b;
    if (uint64_t b = first_bad_pad_.load(); b != kNone) r.first_bad_padding = b;
    return r;
  }

 private:
  static constexpr uint64_t kNone = UINT64_MAX;

  // One chunk's read-only view of the input, unmapped on every exit path.
  struct Window {
    void* addr = MAP_FAILED;
    size_t len = 0;
    Window() = default;
    Window(const Window&) = delete;
    Window& operator=(const Window&) = delete;
    ~Window() { Reset(); }
    void Reset() {
      if (addr != MAP_FAILED) ::munmap(addr, len);
      addr = MAP_FAILED;
    }
  };

  void Worker() {
    const size_t slot = geometry_.digest_slot_size;
    const size_t digest = geometry_.digest_size;
    std::vector<uint8_t> in(io_.map_input ? 0 : blocks_per_chunk_ * io_.in_block_size);
    std::vector<uint8_t> out(blocks_per_chunk_ * slot, 0);
    std::vector<uint8_t> computed(digest);
    SaltedHasher hasher(params_.algorithm, params_.salt);
    for (;;) {
      if (failed_.load(std::memory_order_relaxed)) return;
      const uint64_t chunk = next_.fetch_add(1);
      if (chunk >= chunks_) return;
      const uint64_t first = chunk * blocks_per_chunk_;
      if (check_ && first > first_bad_.load()) return;
      const uint64_t count = std::min(blocks_per_chunk_, io_.in_blocks - first);
      const size_t in_bytes = count * io_.in_block_size;
      const size_t out_bytes = count * slot;
      const uint64_t out_pos = io_.out_offset + first * slot;
      const uint64_t in_pos = io_.in_offset + first * io_.in_block_size;
      const uint8_t* src = in.data();
      Window window;
      Status st;
      if (io_.map_input) {
        const uint64_t page_pos = in_pos / page_size_ * page_size_;
        window.len = in_bytes + (in_pos - page_pos);
        window.addr = ::mmap(nullptr, window.len, PROT_READ, MAP_SHARED | MAP_POPULATE, io_.in_fd,
                             static_cast<off_t>(page_pos));
        if (window.addr == MAP_FAILED) {
          return RecordError(Error::FromErrno(fmt::format("mmap {} at {}", io_.in_name, in_pos)));
        }
        src = static_cast<const uint8_t*>(window.addr) + (in_pos - page_pos);
      } else {
        st = PreadFull(io_.in_fd, std::span(in.data(), in_bytes), in_pos, io_.in_name);
      }
      if (st && check_)
        st = PreadFull(io_.out_fd, std::span(out.data(), out_bytes), out_pos, io_.out_name);
      if (!st) return RecordError(std::move(st).error());
      for (uint64_t i = 0; i < count; ++i) {
        std::span<const uint8_t> block(src + i * io_.in_block_size, io_.in_block_size);
        uint8_t* dst = out.data() + i * slot;
        if (!check_) {
          hasher.Hash(block, dst);
          continue;
        }
        hasher.Hash(block, computed.data());
        if (std::memcmp(computed.data(), dst, digest) != 0) {
          AtomicMin(first_bad_, first + i);
          break;
        }
        if (std::any_of(dst + digest, dst + slot, [](uint8_t b) { return b != 0; })) {
          AtomicMin(first_bad_pad_, first + i);
        }
      }
      window.Reset();
      if (!check_) {
        st = PwriteFull(io_.out_fd, std::span<const uint8_t>(out.data(), out_bytes), out_pos,
                        io_.out_name);
        if (!st) return RecordError(std::move(st).error());
      }
    }
  }

  static void AtomicMin(std::atomic<uint64_t>& a, uint64_t v) {
    uint64_t cur = a.load();
    while (v < cur && !a.compare_exchange_weak(cur, v)) {
    }
  }

  void RecordError(Error e) {
    std::lock_guard lock(mu_);
    if (!error_) error_ = std::move(e);
    failed_.store(true);
  }

  const VerityParams& params_;
  const TreeGeometry& geometry_;
  const LevelIo& io_;
  const bool check_;
  const uint64_t page_size_ = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t blocks_per_chunk_ = 1;
  uint64_t chunks_ = 0;
  std::atomic<uint64_t> next_{0};
  std::atomic<uint64_t> first_bad_{kNone};
  std::atomic<uint64_t> first_bad_pad_{kNone};
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::optional<Error> error_;
};

}  // namespace

LevelIo LevelIoFor(const VerityParams& params, const TreeGeometry& geometry, const TreeFiles& files,
                   int hash_fd, uint32_t level) {
  LevelIo io;
  if (level == 0) {
    io.in_fd = files.data.get();
    io.in_offset = 0;
    io.in_block_size = params.data_block_size;
    io.in_blocks = params.data_blocks;
    io.in_name = files.data_name;
    io.map_input = files.data_is_regular_file;
  } else {
    io.in_fd = hash_fd;
    io.in_offset = geometry.LevelOffset(level - 1);
    io.in_block_size = params.hash_block_size;
    io.in_blocks = geometry.level_blocks[level - 1];
    io.in_name = files.hash_name;
  }
  io.out_fd = hash_fd;
  io.out_offset = geometry.LevelOffset(level);
  io.out_name = files.hash_name;
  return io;
}

Status WriteLevel(const VerityParams& params, const TreeGeometry& geometry, const LevelIo& io,
                  unsigned threads) {
  LevelRunner runner(params, geometry, io, /*check=*/false);
  return runner.Run(threads);
}

Result<LevelCheck> CheckLevel(const VerityParams& params, const TreeGeometry& geometry,
                              const LevelIo& io, unsigned threads) {
  LevelRunner runner(params, geometry, io, /*check=*/true);
  BASALT_RETURN_IF_ERROR(runner.Run(threads));
  return runner.check_result();
}

}  // namespace basalt::verity
