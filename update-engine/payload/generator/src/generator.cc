#include "payload/generator.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/fd.h"
#include "common/hex.h"
#include "common/mapped_file.h"
#include "common/signing.h"
#include "common/subprocess.h"
#include "erofs/erofs_image.h"
#include "file_map.h"
#include "image_dir.h"
#include "ordered_pool.h"
#include "payload/bspatch.h"
#include "payload/codec.h"
#include "payload/format.h"
#include "payload/gzip_region.h"
#include "payload/lz4_region.h"


namespace basalt::payload {
namespace {

constexpr uint64_t kMinZeroRunBlocks = 8;
constexpr uint64_t kMaxRunBlocks = 4096;  // 16 MiB per ZERO / SOURCE_COPY operation
constexpr uint64_t kVoteBucket = 1ull << 16;
// Codec levels by work (see ChooseSmallest): prefix patches whose prefix is over 4x the data at
// most at kLargePrefixLevel; patches over kStrongWorkBytes of prefix + data (and plain
// compression of over half that) at most at kLargeWorkLevel; xz only up to kMaxXzBytes.
constexpr int kLargePrefixLevel = 9;
constexpr int kLargeWorkLevel = 15;
constexpr size_t kStrongWorkBytes = 8ull << 20;
constexpr size_t kMaxXzBytes = 2ull << 20;

// Old bytes on each side of an anchor window: proportional to the chunk, so a one-block change
// of filesystem metadata is not diffed against megabytes of prefix.
uint64_t PatchMargin(uint64_t chunk_bytes) {
  return std::clamp<uint64_t>(chunk_bytes / 2, 64 << 10, 1 << 20);
}

struct PlannedOp {
  Operation op;
  std::vector<uint8_t> blob;
};

enum class SegmentKind { kZero, kCopy, kEncode, kFile, kLz4File, kGzipFile };
using Runs = std::vector<std::pair<uint64_t, uint64_t>>;  // {start block, count}
struct Segment {
  SegmentKind kind;
  uint64_t start;  // first new block
  uint64_t blocks;
  uint64_t src = 0;  // kCopy: first old block, when the runs below are empty
  // kFile: the changed blocks of one new file (in file order) and the blocks of the old file it
  // is diffed against, or of several small files one after another. kLz4File: all blocks of a
  // new and an old LZ4 kernel. kCopy, merged: the copied runs, in the same order on both sides.
  Runs dst_runs = {};
  Runs src_runs = {};
  bool code = false;  // kFile: a piece of a file IsCode() says is compiled code
  // kGzipFile: the gzip members' pieces in the gathered new and old bytes (all blocks of the
  // files, plus the metadata blocks holding inline tails); lengths are filled in on encoding.
  std::vector<GzipRegion> dst_gzip = {}, src_gzip = {};
};

// Per-file operations, like update_engine's per-file diff cap: a changed file is cut into
// pieces of at most this many new blocks, each diffed against at most kMaxFileSourceBlocks of
// its old file, so any one operation's memory and time stay bounded.
constexpr uint64_t kFileOpBlocks = 2048;         // 8 MiB
constexpr uint64_t kMaxFileSourceBlocks = 8192;  // 32 MiB

// Small changed files are diffed in groups (GroupSegments): a file piece of at most
// kSmallFileBlocks joins a group of at most kGroupBlocks new and kGroupSourceBlocks old blocks,
// which keeps the prefix patch at the full level (kStrongWorkBytes).
constexpr uint64_t kSmallFileBlocks = 32;      // 128 KiB
constexpr uint64_t kGroupBlocks = 512;         // 2 MiB
constexpr uint64_t kGroupSourceBlocks = 1024;  // 4 MiB
// Changed metadata between copies comes in runs of a few blocks, each diffed against ~128 KiB
// of old image (PatchMargin): a prefix over 4x the data is diffed at kLargePrefixLevel anyway.
constexpr uint64_t kSmallChunkBlocks = 16;         // 64 KiB
constexpr uint64_t kMetaGroupSourceBlocks = 4096;  // 16 MiB

Runs ToRuns(const std::vector<uint64_t>& blocks, size_t begin, size_t end) {
  Runs runs;
  for (size_t i = begin; i < end; ++i) {
    if (!runs.empty() && runs.back().first + runs.back().second == blocks[i]) {
      ++runs.back().second;
    } else {
      runs.emplace_back(blocks[i], 1);
    }
  }
  return runs;
}

std::span<const uint8_t> Blocks(std::span<const uint8_t> image, uint64_t start, uint64_t count) {
  return image.subspan(start * kBlockSize, count * kBlockSize);
}

// Cheap first test for an x86 kernel (the boot protocol's "HdrS"); EncodeLz4File decides.
bool LooksLikeBzImage(std::span<const uint8_t> first_block) {
  return first_block.size() >= 0x250 && std::memcmp(first_block.data() + 0x202, "HdrS", 4) == 0;
}

// The bytes of `runs` of an image, concatenated in order.
std::vector<uint8_t> Gather(std::span<const uint8_t> image, const Runs& runs) {
  std::vector<uint8_t> out;
  for (auto [start, n] : runs) {
    auto b = Blocks(image, start, n);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

// Files of compiled code, where bsdiff's approximate matches can beat zstd's exact ones: ELF
// objects, and uncompressed newc cpio archives (the initramfs, mostly kernel modules).
bool IsCode(std::span<const uint8_t> first_block) {
  return first_block.size() >= 6 && (std::memcmp(first_block.data(),
                                                 "\x7f"
                                                 "ELF",
                                                 4) == 0 ||
                                     std::memcmp(first_block.data(), "070701", 6) == 0);
}

bool IsZero(std::span<const uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t c) { return c == 0; });
}

void AddExtent(google::protobuf::RepeatedPtrField<proto::Extent>* list, uint64_t start,
               uint64_t count) {
  auto* e = list->Add();
  e->set_start_block(start);
  e->set_num_blocks(count);
}

std::string DigestString(const Sha256Digest& d) {
  return std::string(d.begin(), d.end());
}

// Content-defined anchors: a gear rolling hash over the last 64 bytes; positions where its top
// bits are zero (one in ~512 bytes) are indexed by the hash value. Matching anchors between a
// changed chunk of the new image and the old image vote for where its old version lives.
class AnchorIndex {
 public:
  static std::array<uint64_t, 256> MakeTable() {
    std::array<uint64_t, 256> t{};
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (auto& v : t) {
      x += 0x9E3779B97F4A7C15ull;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      v = z ^ (z >> 31);
    }
    return t;
  }
  static constexpr uint64_t kMask = 0x1FFull << 55;

  template <typename F>
  static void ForEachAnchor(std::span<const uint8_t> data, const std::array<uint64_t, 256>& t,
                            F&& f) {
    uint64_t g = 0;
    for (size_t i = 0; i < data.size(); ++i) {
      g = (g << 1) + t[data[i]];
      if (i >= 64 && (g & kMask) == 0) f(g, i);
    }
  }

  void Build(std::span<const uint8_t> old_data) {
    table_ = MakeTable();
    index_.reserve(old_data.size() / 256);
    ForEachAnchor(old_data, table_, [&](uint64_t g, size_t pos) { index_.try_emplace(g, pos); });
  }

  // Up to two old byte ranges likely to hold the old version of `chunk`.
  std::vector<std::pair<uint64_t, uint64_t>> Windows(std::span<const uint8_t> chunk,
                                                     uint64_t old_size, uint64_t margin) const {
    std::unordered_map<int64_t, int> votes;
    ForEachAnchor(chunk, table_, [&](uint64_t g, size_t pos) {
      auto it = index_.find(g);
      if (it == index_.end()) return;
      int64_t start = static_cast<int64_t>(it->second) - static_cast<int64_t>(pos);
      int64_t bucket = start >= 0 ? start / static_cast<int64_t>(kVoteBucket)
                                  : -((-start + static_cast<int64_t>(kVoteBucket) - 1) /
                                      static_cast<int64_t>(kVoteBucket));
      ++votes[bucket];
    });
    std::vector<std::pair<int, int64_t>> ranked;
    for (auto [b, n] : votes)
      ranked.emplace_back(n, b);
    std::sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (const auto& [n, bucket] : ranked) {
      if (out.size() == 2 || n < 2 || (!out.empty() && n * 4 < ranked[0].first)) break;
      int64_t lo = bucket * static_cast<int64_t>(kVoteBucket) - static_cast<int64_t>(margin);
      int64_t hi = bucket * static_cast<int64_t>(kVoteBucket) +
                   static_cast<int64_t>(chunk.size() + kVoteBucket + margin);
      lo = std::max<int64_t>(lo, 0) / kBlockSize * kBlockSize;
      hi = std::min<int64_t>(hi, static_cast<int64_t>(old_size));
      hi = (hi + kBlockSize - 1) / kBlockSize * kBlockSize;
      if (hi > static_cast<int64_t>(old_size))
        hi = static_cast<int64_t>(old_size) / kBlockSize * kBlockSize;
      if (hi <= lo) continue;
      bool overlaps = false;
      for (auto& [a, b] : out) {
        if (static_cast<uint64_t>(lo) < b && a < static_cast<uint64_t>(hi)) {
          a = std::min<uint64_t>(a, lo);
          b = std::max<uint64_t>(b, hi);
          overlaps = true;
        }
      }
      if (!overlaps) out.emplace_back(lo, hi);
    }
    return out;
  }

 private:
  std::array<uint64_t, 256> table_{};
  std::unordered_map<uint64_t, uint64_t> index_;
};

// Runs Debian's `bsdiff` on two temp files; empty result when the tool is absent or fails.
std::vector<uint8_t> BsdiffWithTool(std::span<const uint8_t> old_data,
                                    std::span<const uint8_t> new_data, const std::string& tmpdir,
                                    size_t slot) {
  const std::string base = fmt::format("{}/bsdiff-{}-{}", tmpdir, getpid(), slot);
  const std::string o = base + ".old", n = base + ".new", p = base + ".patch";
  auto cleanup = [&] {
    unlink(o.c_str());
    unlink(n.c_str());
    unlink(p.c_str());
  };
  auto write = [](const std::string& path, std::span<const uint8_t> data) {
    auto fd = OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    return fd && WriteFull(fd->get(), data, path);
  };
  if (!write(o, old_data) || !write(n, new_data)) {
    cleanup();
    return {};
  }
  std::vector<uint8_t> out;
  if (RunCommandOk({"bsdiff", o, n, p})) {
    if (auto data = ReadFileToString(p)) out.assign(data->begin(), data->end());
  }
  cleanup();
  return out;
}

class Generator {
 public:
  Generator(const GenerateOptions& o, Logger& log) : opt_(o), log_(log) {}

  Result<GenerateResult> Run();

 private:
  Status LoadInputs();
  void PlanFull();
  void PlanDelta();
  void AddEncodeSegments(uint64_t start, uint64_t count);
  Result<std::vector<PlannedOp>> RunSegment(size_t index);
  Result<PlannedOp> Encode(const Segment& seg, size_t slot);
  // Deltas: the old blocks a chunk of changed new blocks is diffed against.
  Runs EncodeSource(uint64_t start, uint64_t blocks) const;
  Result<PlannedOp> EncodeFile(const Segment& seg, size_t slot);
  Result<std::vector<PlannedOp>> EncodeLz4File(const Segment& seg, size_t slot);
  Result<PlannedOp> EncodeGzipFile(const Segment& seg, size_t slot);
  Status CheckGzipMatchesHosts() const;
  // kGzipFile segments for the changed gzip'd files that have a gzip'd old version; files
  // whose blocks overlap (inline tails in one metadata block) share a segment. Claims the
  // blocks in `taken`.
  void PlanGzipFiles(const std::vector<FileBlocks>& new_files,
                     const std::vector<FileBlocks>& old_files, const FileMatcher& matcher,
                     std::vector<bool>& taken);
  Result<PlannedOp> ChooseSmallest(std::span<const uint8_t> data, std::span<const uint8_t> source,
                                   size_t slot, int level, bool bsdiff);
  // Deltas: the changed blocks of files that have an old counterpart, as kFile segments.
  // Marks the blocks it takes in `taken`.
  void PlanFiles(const std::vector<uint64_t>& src, std::vector<bool>& taken);
  // Deltas: merges small kFile segments into shared ones, and kCopy segments into ones of up
  // to kMaxRunBlocks.
  void GroupSegments();
  Status WriteOutput(const std::string& blob_path, GenerateResult& result);

  const GenerateOptions& opt_;
  Logger& log_;
  UsrImageInfo new_info_;
  std::optional<UsrImageInfo> old_info_;
  MappedFile new_map_, old_map_;
  std::span<const uint8_t> new_, old_;
  uint64_t shipped_blocks_ = 0;
  uint64_t old_shipped_blocks_ = 0;
  bool has_superblock_ = false;
  bool old_has_superblock_ = false;
  std::vector<Segment> segments_;
  AnchorIndex anchors_;
  Manifest manifest_;
  Partition* part_ = nullptr;
  std::string tmpdir_;
  uint64_t files_matched_ = 0;
  uint64_t gzip_files_ = 0;
  bool gzip_tool_ = false;  // kGzipTool runs here and is the old image's gzip
  uint32_t minor_version_ = kMinorFull;
};

bool HasVeritySuperblock(std::span<const uint8_t> image, uint64_t hash_offset) {
  static constexpr uint8_t kSig[8] = {'v', 'e', 'r', 'i', 't', 'y', 0, 0};
  return image.size() >= hash_offset + kBlockSize &&
         std::memcmp(image.data() + hash_offset, kSig, 8) == 0;
}

// SOURCE_GZIP_PATCH is rebuilt on the host by the gzip of the image it updates from (the
// running /usr), and checked here with this machine's gzip: only sound when they are the same
// program. Different builds of one gzip version almost surely compress alike, but "almost" would
// turn every such delta into a fallback to the full payload, so the bytes must be identical.
Status Generator::CheckGzipMatchesHosts() const {
  BASALT_ASSIGN_OR_RETURN(std::string here, ReadFileToString(kGzipTool));
  if (access(kGzipTool, X_OK) != 0) return FailErrno(std::string(kGzipTool) + " is not runnable");
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(old_info_->path, O_RDONLY));
  BASALT_ASSIGN_OR_RETURN(erofs::ErofsImage image,
                          erofs::ErofsImage::Open(fd.get(), 0, old_info_->hash_offset));
  // The image is /usr: the hosts' /usr/bin/gzip is its /bin/gzip.
  auto theirs = image.ReadFile("/bin/gzip", 16ull << 20);
  if (!theirs) {
    return Fail(ErrorKind::kNotFound,
                fmt::format("the old image has no /usr/bin/gzip ({})", theirs.error().message()));
  }
  if (*theirs != here) {
    return Fail(ErrorKind::kUnsupported,
                fmt::format("the old image's /usr/bin/gzip is not this machine's {}", kGzipTool));
  }
  return {};
}

Status Generator::LoadInputs() {
  BASALT_ASSIGN_OR_RETURN(new_info_, LoadImageDir(opt_.new_image_dir));
  if (new_info_.data_block_size != kBlockSize || new_info_.hash_block_size != kBlockSize ||
      new_info_.size % kBlockSize != 0) {
    return Failf(ErrorKind::kUnsupported, "{}: only 4096-byte verity blocks are supported",
                 opt_.new_image_dir);
  }
  BASALT_ASSIGN_OR_RETURN(new_map_, MappedFile::MapWholeFile(new_info_.path));
  new_ = new_map_.bytes();
  has_superblock_ = HasVeritySuperblock(new_, new_info_.hash_offset);
  shipped_blocks_ = new_info_.hash_offset / kBlockSize + (has_superblock_ ? 1 : 0);
  if (opt_.old_image_dir) {
    BASALT_ASSIGN_OR_RETURN(UsrImageInfo old, LoadImageDir(*opt_.old_image_dir));
    if (old.size % kBlockSize != 0) {
      return Failf(ErrorKind::kUnsupported, "{}: usr.img size is not a multiple of 4096",
                   *opt_.old_image_dir);
    }
    BASALT_ASSIGN_OR_RETURN(old_map_, MappedFile::MapWholeFile(old.path));
    old_ = old_map_.bytes();
    old_has_superblock_ = HasVeritySuperblock(old_, old.hash_offset);
    old_shipped_blocks_ = old.hash_offset / kBlockSize + (old_has_superblock_ ? 1 : 0);
    old_info_ = std::move(old);
  }
  return {};
}

void Generator::AddEncodeSegments(uint64_t start, uint64_t count) {
  const uint64_t chunk = std::max<uint64_t>(1, opt_.chunk_size / kBlockSize);
  for (uint64_t b = start; b < start + count; b += chunk) {
    segments_.push_back({SegmentKind::kEncode, b, std::min(chunk, start + count - b)});
  }
}

void Generator::PlanFull() {
  uint64_t b = 0;
  while (b < shipped_blocks_) {
    uint64_t e = b;
    while (e < shipped_blocks_ && IsZero(Blocks(new_, e, 1)))
      ++e;
    if (e - b >= kMinZeroRunBlocks) {
      for (uint64_t z = b; z < e; z += kMaxRunBlocks) {
        segments_.push_back({SegmentKind::kZero, z, std::min(kMaxRunBlocks, e - z)});
      }
      b = e;
      continue;
    }
    // A data run: up to the next long zero run.
    e = b;
    uint64_t zeros = 0;
    while (e < shipped_blocks_) {
      if (IsZero(Blocks(new_, e, 1))) {
        if (++zeros >= kMinZeroRunBlocks) break;
      } else {
        zeros = 0;
      }
      ++e;
    }
    uint64_t end = zeros >= kMinZeroRunBlocks ? e + 1 - zeros : e;
    AddEncodeSegments(b, end - b);
    b = end;
  }
}

void Generator::PlanFiles(const std::vector<uint64_t>& src, std::vector<bool>& taken) {
  auto new_files = ListFileBlocks(new_info_.path, new_info_.hash_offset);
  auto old_files = ListFileBlocks(old_info_->path, old_info_->hash_offset);
  if (!new_files || !old_files) {
    // Not an erofs we can read: the block-level plan below still makes a correct delta.
    log_.Warn(fmt::format("file-aware delta disabled: {}",
                          (!new_files ? new_files.error() : old_files.error()).message()));
    return;
  }
  {
    // gzip'd files may live wholly inline in metadata; everything else is matched among the
    // old files that have data blocks, as before inline files were listed.
    FileMatcher all_old(*old_files);
    PlanGzipFiles(*new_files, *old_files, all_old, taken);
  }
  std::erase_if(*old_files, [](const FileBlocks& f) { return f.blocks.empty(); });
  FileMatcher matcher(*old_files);
  constexpr uint64_t kChanged = ~0ull;
  auto all_shipped = [](const FileBlocks& f, uint64_t shipped) {
    return !f.blocks.empty() &&
           std::all_of(f.blocks.begin(), f.blocks.end(), [&](uint64_t b) { return b < shipped; });
  };
  for (const FileBlocks& nf : *new_files) {
    if (opt_.lz4_kernels && opt_.max_minor_version >= kMinorDelta3 &&
        nf.blocks.size() * kBlockSize <= kMaxOpDstBytes && all_shipped(nf, shipped_blocks_) &&
        LooksLikeBzImage(Blocks(new_, nf.blocks[0], 1))) {
      int64_t m = matcher.Match(nf);
      const FileBlocks* of = m < 0 ? nullptr : &(*old_files)[static_cast<size_t>(m)];
      if (of && of->blocks.size() * kBlockSize <= kMaxOpSrcBytes &&
          all_shipped(*of, old_shipped_blocks_) &&
          LooksLikeBzImage(Blocks(old_, of->blocks[0], 1))) {
        // The whole file, copies included: the operation rebuilds it from its expanded form.
        Segment seg{SegmentKind::kLz4File, nf.blocks[0], nf.blocks.size()};
        seg.dst_runs = ToRuns(nf.blocks, 0, nf.blocks.size());
        seg.src_runs = ToRuns(of->blocks, 0, of->blocks.size());
        for (uint64_t b : nf.blocks)
          taken[b] = true;
        ++files_matched_;
        segments_.push_back(std::move(seg));
        continue;
      }
    }
    // The blocks of this file that are neither found verbatim in the old image nor part of a
    // long zero run (src[] says so); those are what a diff has to produce.
    std::vector<uint64_t> changed;
    for (uint64_t b : nf.blocks) {
      if (b < shipped_blocks_ && src[b] == kChanged && !taken[b]) changed.push_back(b);
    }
    if (changed.empty()) continue;
    int64_t m = matcher.Match(nf);
    if (m < 0) continue;  // a new file: the anchor search over the whole old image handles it
    const FileBlocks& of = (*old_files)[static_cast<size_t>(m)];
    std::vector<uint64_t> old_blocks;
    for (uint64_t b : of.blocks) {
      if (b < old_shipped_blocks_) old_blocks.push_back(b);
    }
    if (old_blocks.empty()) continue;
    ++files_matched_;
    const bool code = nf.blocks[0] < shipped_blocks_ && IsCode(Blocks(new_, nf.blocks[0], 1));
    for (uint64_t b : changed)
      taken[b] = true;
    for (size_t i = 0; i < changed.size(); i += kFileOpBlocks) {
      const size_t end = std::min<size_t>(changed.size(), i + kFileOpBlocks);
      Segment seg{SegmentKind::kFile, changed[i], end - i};
      seg.dst_runs = ToRuns(changed, i, end);
      seg.code = code;
      // The part of the old file proportional to this piece, widened; the whole old file when
      // it fits.
      size_t lo = 0, hi = old_blocks.size();
      if (old_blocks.size() > kMaxFileSourceBlocks) {
        const double scale = static_cast<double>(old_blocks.size()) / changed.size();
        const size_t center = static_cast<size_t>((i + end) / 2.0 * scale);
        lo = center > kMaxFileSourceBlocks / 2 ? center - kMaxFileSourceBlocks / 2 : 0;
        hi = std::min(old_blocks.size(), lo + kMaxFileSourceBlocks);
        lo = hi - std::min(hi, kMaxFileSourceBlocks);
      }
      seg.src_runs = ToRuns(old_blocks, lo, hi);
      segments_.push_back(std::move(seg));
    }
  }
}

// Where a file's gzip member lies: its data blocks (in file order) and, for an erofs
// FLAT_INLINE file, the tail at a byte of a metadata block.
struct GzipFile {
  std::vector<uint64_t> blocks;
  uint64_t in_blocks = 0;  // member bytes in `blocks`
  uint64_t meta = 0, at = 0, inline_size = 0;
};

std::optional<GzipFile> LocateGzipFile(const FileBlocks& f, uint64_t shipped,
                                       std::span<const uint8_t> image) {
  constexpr uint8_t kGzipMagic[3] = {0x1f, 0x8b, 0x08};
  if (f.size < 18 || f.size > kMaxOpDstBytes || f.inline_size > f.size) return std::nullopt;
  GzipFile g;
  g.blocks = f.blocks;
  g.in_blocks = f.size - f.inline_size;
  g.inline_size = f.inline_size;
  if (g.in_blocks > g.blocks.size() * kBlockSize) return std::nullopt;
  for (uint64_t b : g.blocks)
    if (b >= shipped) return std::nullopt;
  if (g.inline_size > 0) {
    g.meta = f.inline_offset / kBlockSize;
    g.at = f.inline_offset % kBlockSize;
    if (g.meta >= shipped || g.at + g.inline_size > kBlockSize ||
        std::find(g.blocks.begin(), g.blocks.end(), g.meta) != g.blocks.end()) {
      return std::nullopt;
    }
  }
  // The first bytes of the member: in the first data block, else in the inline tail.
  if ((g.in_blocks > 0 ? g.in_blocks : g.inline_size) < 3) return std::nullopt;
  const uint8_t* head = g.in_blocks > 0 ? Blocks(image, g.blocks[0], 1).data()
                                        : Blocks(image, g.meta, 1).data() + g.at;
  if (std::memcmp(head, kGzipMagic, 3) != 0) return std::nullopt;
  return g;
}

// The member's bytes, for telling changed files from unchanged ones.
std::vector<uint8_t> GzipMember(const GzipFile& g, std::span<const uint8_t> image) {
  std::vector<uint8_t> out;
  for (uint64_t b : g.blocks) {
    auto s = Blocks(image, b, 1);
    out.insert(out.end(), s.begin(), s.end());
  }
  out.resize(g.in_blocks);
  if (g.inline_size > 0) {
    auto s = Blocks(image, g.meta, 1).subspan(g.at, g.inline_size);
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

// Gathers files into one operation's bytes: each file's data blocks, then the metadata blocks
// (once each), and says where every member lies in them.
void LayOut(const std::vector<const GzipFile*>& files, Runs& runs,
            std::vector<GzipRegion>& regions) {
  std::vector<uint64_t> blocks, metas;
  std::vector<uint64_t> data_at;  // each file's first byte in the gathered bytes
  for (const GzipFile* g : files) {
    data_at.push_back(blocks.size() * kBlockSize);
    blocks.insert(blocks.end(), g->blocks.begin(), g->blocks.end());
    if (g->inline_size > 0 && std::find(metas.begin(), metas.end(), g->meta) == metas.end()) {
      metas.push_back(g->meta);
    }
  }
  const uint64_t meta_at = blocks.size() * kBlockSize;
  blocks.insert(blocks.end(), metas.begin(), metas.end());
  runs = ToRuns(blocks, 0, blocks.size());
  regions.clear();
  for (size_t i = 0; i < files.size(); ++i) {
    const GzipFile& g = *files[i];
    GzipRegion r;
    if (g.in_blocks > 0) r.pieces.push_back({data_at[i], g.in_blocks});
    if (g.inline_size > 0) {
      const size_t m =
          static_cast<size_t>(std::find(metas.begin(), metas.end(), g.meta) - metas.begin());
      r.pieces.push_back({meta_at + m * kBlockSize + g.at, g.inline_size});
    }
    regions.push_back(std::move(r));
  }
}

void Generator::PlanGzipFiles(const std::vector<FileBlocks>& new_files,
                              const std::vector<FileBlocks>& old_files, const FileMatcher& matcher,
                              std::vector<bool>& taken) {
  if (!opt_.gzip_files || !gzip_tool_ || opt_.max_minor_version < kMinorDelta4) return;
  struct Candidate {
    GzipFile dst, src;
    std::vector<uint64_t> dst_blocks;  // data blocks and metadata block
  };
  std::vector<Candidate> cands;
  for (const FileBlocks& nf : new_files) {
    if (!nf.regular) continue;
    auto dst = LocateGzipFile(nf, shipped_blocks_, new_);
    if (!dst) continue;
    const int64_t m = matcher.Match(nf);
    if (m < 0) continue;
    const FileBlocks& of = old_files[static_cast<size_t>(m)];
    if (!of.regular) continue;
    auto src = LocateGzipFile(of, old_shipped_blocks_, old_);
    if (!src || GzipMember(*dst, new_) == GzipMember(*src, old_)) continue;
    Candidate c{std::move(*dst), std::move(*src), {}};
    c.dst_blocks = c.dst.blocks;
    if (c.dst.inline_size > 0) c.dst_blocks.push_back(c.dst.meta);
    cands.push_back(std::move(c));
  }
  // Files that share a destination block (inline tails in one metadata block) go together:
  // union-find over the candidates through the blocks they write.
  std::vector<size_t> parent(cands.size());
  for (size_t i = 0; i < parent.size(); ++i)
    parent[i] = i;
  auto find = [&](size_t i) {
    while (parent[i] != i)
      i = parent[i] = parent[parent[i]];
    return i;
  };
  std::unordered_map<uint64_t, size_t> owner;
  for (size_t i = 0; i < cands.size(); ++i) {
    for (uint64_t b : cands[i].dst_blocks) {
      auto [it, fresh] = owner.try_emplace(b, i);
      if (!fresh) parent[find(i)] = find(it->second);
    }
  }
  std::vector<std::vector<size_t>> groups(cands.size());
  for (size_t i = 0; i < cands.size(); ++i)
    groups[find(i)].push_back(i);
  for (const auto& group : groups) {
    if (group.empty() || group.size() > kMaxGzipRegions) continue;
    std::vector<const GzipFile*> dsts, srcs;
    for (size_t i : group) {
      dsts.push_back(&cands[i].dst);
      srcs.push_back(&cands[i].src);
    }
    Segment seg{SegmentKind::kGzipFile, 0, 0};
    LayOut(dsts, seg.dst_runs, seg.dst_gzip);
    LayOut(srcs, seg.src_runs, seg.src_gzip);
    uint64_t dst_blocks = 0, src_blocks = 0;
    bool free = true;
    std::unordered_set<uint64_t> seen;  // a block in two files' data (an odd image) is refused
    for (auto [b, n] : seg.dst_runs) {
      dst_blocks += n;
      for (uint64_t i = b; i < b + n; ++i)
        free = free && !taken[i] && seen.insert(i).second;
    }
    seen.clear();
    for (auto [b, n] : seg.src_runs) {
      src_blocks += n;
      for (uint64_t i = b; i < b + n; ++i)
        free = free && seen.insert(i).second;
    }
    if (!free || dst_blocks * kBlockSize > kMaxOpDstBytes || src_blocks > kMaxFileSourceBlocks) {
      continue;
    }
    for (auto [b, n] : seg.dst_runs)
      for (uint64_t i = b; i < b + n; ++i)
        taken[i] = true;
    seg.start = seg.dst_runs[0].first;
    seg.blocks = dst_blocks;
    gzip_files_ += group.size();
    files_matched_ += group.size();
    segments_.push_back(std::move(seg));
  }
}

uint64_t RunBlocks(const Runs& runs) {
  uint64_t n = 0;
  for (auto [start, count] : runs)
    n += count;
  return n;
}

void AppendRuns(Runs& to, const Runs& from) {
  for (auto [start, n] : from) {
    if (!to.empty() && to.back().first + to.back().second == start) {
      to.back().second += n;
    } else {
      to.emplace_back(start, n);
    }
  }
}

// The blocks of `runs`, sorted, each once.
Runs UnionRuns(Runs runs) {
  std::sort(runs.begin(), runs.end());
  Runs out;
  for (auto [start, n] : runs) {
    if (!out.empty() && start <= out.back().first + out.back().second) {
      out.back().second = std::max(out.back().second, start + n - out.back().first);
    } else {
      out.emplace_back(start, n);
    }
  }
  return out;
}

// Whether every block of `want` lies in `have`.
bool Covers(const Runs& have, const Runs& want) {
  return std::ranges::all_of(want, [&](const auto& w) {
    return std::ranges::any_of(have, [&](const auto& h) {
      return h.first <= w.first && w.first + w.second <= h.first + h.second;
    });
  });
}

// On the OS pair, 5,739 operations one per segment were 2,219 SOURCE_COPY runs between changed
// blocks, 1,114 diffs of small file pieces (1,097 of them code) and 1,987 of small metadata
// chunks. Each operation costs ~85 bytes of manifest (two digests and its extents) and each
// small diff a zstd frame or bsdiff patch with its own headers and tables; grouped (453
// operations), the delta shrank from 9.48 to 8.40 MB, the manifest from 481 to 131 KB.
// Segments keep their relative order, so a group holds files near each other in the image
// (mostly one directory), which then share one diff context.
void Generator::GroupSegments() {
  std::vector<Segment> out;
  out.reserve(segments_.size());
  // Open groups: small pieces of files that are not code, of code, and metadata chunks.
  enum { kText, kCode, kMeta };
  std::optional<size_t> open[3];
  std::optional<size_t> copy_group;
  uint64_t groups[3] = {}, members[3] = {}, copy_groups = 0, copies = 0;
  for (Segment& seg : segments_) {
    int cls = -1;
    if (seg.kind == SegmentKind::kFile && seg.blocks <= kSmallFileBlocks) {
      cls = seg.code ? kCode : kText;
    } else if (seg.kind == SegmentKind::kEncode && seg.blocks <= kSmallChunkBlocks) {
      // Diffed as the chunk alone would be, against the old ranges its anchors point to.
      seg.kind = SegmentKind::kFile;
      seg.dst_runs = {{seg.start, seg.blocks}};
      seg.src_runs = EncodeSource(seg.start, seg.blocks);
      cls = kMeta;
    }
    if (cls >= 0) {
      const uint64_t src_blocks = RunBlocks(seg.src_runs);
      const uint64_t max_src = cls == kMeta ? kMetaGroupSourceBlocks : kGroupSourceBlocks;
      std::optional<size_t>& g = open[cls];
      if (src_blocks <= max_src / 2) {
        if (g && out[*g].blocks + seg.blocks <= kGroupBlocks) {
          Segment& group = out[*g];
          Runs src = group.src_runs;
          if (cls == kMeta) {
            // Neighbouring chunks' windows overlap: the source is their union.
            src.insert(src.end(), seg.src_runs.begin(), seg.src_runs.end());
            src = UnionRuns(std::move(src));
          } else if (!Covers(src, seg.src_runs)) {
            // Two new files matched to one old file (a renamed copy) need it only once.
            AppendRuns(src, seg.src_runs);
          }
          if (RunBlocks(src) <= max_src) {
            AppendRuns(group.dst_runs, seg.dst_runs);
            group.src_runs = std::move(src);
            group.blocks += seg.blocks;
            ++members[cls];
            continue;
          }
        }
        g = out.size();
        ++groups[cls];
        ++members[cls];
      }
    } else if (seg.kind == SegmentKind::kCopy) {
      if (copy_group && out[*copy_group].blocks + seg.blocks <= kMaxRunBlocks) {
        Segment& group = out[*copy_group];
        if (group.dst_runs.empty()) {
          group.dst_runs = {{group.start, group.blocks}};
          group.src_runs = {{group.src, group.blocks}};
        }
        group.dst_runs.emplace_back(seg.start, seg.blocks);
        group.src_runs.emplace_back(seg.src, seg.blocks);
        group.blocks += seg.blocks;
        ++copies;
        continue;
      }
      copy_group = out.size();
      ++copy_groups;
      ++copies;
    }
    out.push_back(std::move(seg));
  }
  segments_ = std::move(out);
  log_.Info(fmt::format(
      "delta plan: grouped {} small file pieces into {}, {} of code into {}, {} small metadata "
      "chunks into {}, {} copies into {}",
      members[kText], groups[kText], members[kCode], groups[kCode], members[kMeta], groups[kMeta],
      copies, copy_groups));
}

void Generator::PlanDelta() {
  // Old blocks by content, for SOURCE_COPY of blocks that moved.
  std::unordered_map<std::string_view, uint64_t> old_blocks;
  old_blocks.reserve(old_shipped_blocks_);
  for (uint64_t b = old_shipped_blocks_; b-- > 0;) {
    auto span = Blocks(old_, b, 1);
    old_blocks[std::string_view(reinterpret_cast<const char*>(span.data()), span.size())] = b;
  }
  constexpr uint64_t kChanged = ~0ull, kZeroBlock = ~0ull - 1;
  std::vector<uint64_t> src(shipped_blocks_, kChanged);
  for (uint64_t b = 0; b < shipped_blocks_; ++b) {
    auto span = Blocks(new_, b, 1);
    if (IsZero(span)) {
      src[b] = kZeroBlock;
    } else if (b < old_shipped_blocks_ &&
               std::memcmp(span.data(), Blocks(old_, b, 1).data(), kBlockSize) == 0) {
      src[b] = b;
    } else if (auto it = old_blocks.find(
                   std::string_view(reinterpret_cast<const char*>(span.data()), span.size()));
               it != old_blocks.end()) {
      // Keep runs contiguous: prefer the block after the previous copy's source.
      uint64_t prev = b > 0 ? src[b - 1] : kChanged;
      if (prev < kZeroBlock && prev + 1 < old_shipped_blocks_ &&
          std::memcmp(span.data(), Blocks(old_, prev + 1, 1).data(), kBlockSize) == 0) {
        src[b] = prev + 1;
      } else {
        src[b] = it->second;
      }
    }
  }
  old_blocks.clear();
  // Short zero runs inside a file are diffed with it; long ones become ZERO below.
  for (uint64_t b = 0; b < shipped_blocks_;) {
    uint64_t e = b;
    while (e < shipped_blocks_ && src[e] == kZeroBlock)
      ++e;
    if (e > b && e - b < kMinZeroRunBlocks) {
      for (uint64_t z = b; z < e; ++z)
        src[z] = kChanged;
    }
    b = std::max(e, b + 1);
  }
  std::vector<bool> taken(shipped_blocks_, false);
  PlanFiles(src, taken);
  anchors_.Build(Blocks(old_, 0, old_shipped_blocks_));

  uint64_t b = 0;
  uint64_t pending = 0;  // start of an encode run not yet emitted
  bool in_encode = false;
  auto flush = [&](uint64_t end) {
    if (in_encode) AddEncodeSegments(pending, end - pending);
    in_encode = false;
  };
  while (b < shipped_blocks_) {
    if (taken[b]) {
      flush(b);
      ++b;
    } else if (src[b] == kZeroBlock) {
      flush(b);
      uint64_t e = b;
      while (e < shipped_blocks_ && src[e] == kZeroBlock)
        ++e;
      for (uint64_t z = b; z < e; z += kMaxRunBlocks) {
        segments_.push_back({SegmentKind::kZero, z, std::min(kMaxRunBlocks, e - z)});
      }
      b = e;
    } else if (src[b] != kChanged) {
      flush(b);
      uint64_t e = b + 1;
      while (e < shipped_blocks_ && e - b < kMaxRunBlocks && src[e] == src[e - 1] + 1 &&
             src[e] < kZeroBlock && !taken[e]) {
        ++e;
      }
      segments_.push_back({SegmentKind::kCopy, b, e - b, src[b]});
      b = e;
    } else {
      if (!in_encode) {
        in_encode = true;
        pending = b;
      }
      ++b;
    }
  }
  flush(shipped_blocks_);
  GroupSegments();
  // Target order, so the applier writes mostly sequentially; stable, so it is deterministic.
  std::stable_sort(segments_.begin(), segments_.end(),
                   [](const Segment& a, const Segment& b) { return a.start < b.start; });
  log_.Info(
      fmt::format("delta plan: {} operations, {} changed files diffed against their old "
                  "version ({} of them gzip'd, diffed decompressed)",
                  segments_.size(), files_matched_, gzip_files_));
}

Runs Generator::EncodeSource(uint64_t start, uint64_t blocks) const {
  auto data = Blocks(new_, start, blocks);
  const uint64_t margin = PatchMargin(data.size());
  const uint64_t old_bytes = old_shipped_blocks_ * kBlockSize;
  auto windows = anchors_.Windows(data, old_bytes, margin);
  if (windows.empty() && start < old_shipped_blocks_) {
    // No anchors matched: try the same place in the old image. The margin need not be a
    // whole number of blocks.
    uint64_t lo = start * kBlockSize > margin ? start * kBlockSize - margin : 0;
    uint64_t hi = std::min<uint64_t>(old_bytes, (start + blocks) * kBlockSize + margin);
    windows.emplace_back(lo / kBlockSize * kBlockSize,
                         std::min(old_bytes, (hi + kBlockSize - 1) / kBlockSize * kBlockSize));
  }
  Runs runs;
  for (auto [lo, hi] : windows)
    runs.emplace_back(lo / kBlockSize, (hi - lo) / kBlockSize);
  return runs;
}

Result<PlannedOp> Generator::Encode(const Segment& seg, size_t slot) {
  auto data = Blocks(new_, seg.start, seg.blocks);
  std::vector<uint8_t> source;
  google::protobuf::RepeatedPtrField<proto::Extent> src_extents;
  if (!old_.empty()) {
    for (auto [start, n] : EncodeSource(seg.start, seg.blocks)) {
      auto b = Blocks(old_, start, n);
      source.insert(source.end(), b.begin(), b.end());
      AddExtent(&src_extents, start, n);
    }
  }
  const int level = old_.empty() ? opt_.full_zstd_level : opt_.zstd_level;
  BASALT_ASSIGN_OR_RETURN(
      PlannedOp best,
      ChooseSmallest(data, source, slot, level, opt_.bsdiff == GenerateOptions::Bsdiff::kAll));
  if (IsSourceOperation(best.op.type())) {
    *best.op.mutable_src_extents() = src_extents;
    best.op.set_src_sha256(DigestString(Sha256(source)));
  }
  AddExtent(best.op.mutable_dst_extents(), seg.start, seg.blocks);
  return best;
}

// Generation time is dominated by zstd's match finders, so each codec is only tried where it
// can pay (profiled on the OS pair, docs/payload.md "Generation speed"):
// - a level-1 probe first: data it cannot shrink by 2% (compressed files: vmlinuz, initrd,
//   .gz/.xz) is stored as is, no diff or strong codec can do much with it;
// - the prefix patch next; its level drops to kLargePrefixLevel when the prefix is much larger
//   than the data, because levels 16+ index every prefix byte into a binary tree (4 MiB of
//   prefix costs ~2.7 s at level 19 whatever the data size, ~0.15 s at level 12, for a patch a
//   few bytes larger);
// - plain zstd at the full level and xz only when no patch halved the probe.
Result<PlannedOp> Generator::ChooseSmallest(std::span<const uint8_t> data,
                                            std::span<const uint8_t> source, size_t slot, int level,
                                            bool bsdiff) {
  PlannedOp best;
  best.op.set_type(Operation::REPLACE);
  best.blob.assign(data.begin(), data.end());
  auto consider = [&](Operation::Type type, std::vector<uint8_t>&& blob) {
    if (!blob.empty() && blob.size() < best.blob.size()) {
      best.op.set_type(type);
      best.blob = std::move(blob);
    }
  };
  BASALT_ASSIGN_OR_RETURN(auto probe, ZstdCompress(data, 1));
  const size_t probe_size = probe.size();
  consider(Operation::REPLACE_ZSTD, std::move(probe));
  // Mostly compressed data (vmlinuz, .gz): plain compression or xz cannot help, only a patch
  // (a bzImage shares half its bytes with the previous kernel's at level 15).
  const bool dense = probe_size * 10 >= data.size() * 9;
  if (old_.empty()) {
    if (dense) return best;
    // Full payloads: one codec, one level (apply throughput; see GenerateOptions).
    BASALT_ASSIGN_OR_RETURN(auto zstd, ZstdCompress(data, level));
    consider(Operation::REPLACE_ZSTD, std::move(zstd));
    return best;
  }
  if (!source.empty()) {
    int patch_level = level;
    if (source.size() > 4 * data.size()) {
      patch_level = std::min(level, kLargePrefixLevel);
    } else if (source.size() + data.size() > kStrongWorkBytes) {
      patch_level = std::min(level, kLargeWorkLevel);
    }
    BASALT_ASSIGN_OR_RETURN(auto patch, ZstdCompress(data, patch_level, source));
    consider(Operation::SOURCE_ZSTD_PATCH, std::move(patch));
    if (bsdiff) {
      auto patch = BsdiffWithTool(source, data, tmpdir_, slot);
      // The xz form is ~17% smaller; only worth its encoding time where it can win.
      if (!patch.empty() && opt_.max_minor_version >= kMinorDelta3 &&
          patch.size() * 10 < best.blob.size() * 13) {
        auto xz = BsdiffToXz(patch, opt_.xz_preset);
        if (xz) consider(Operation::SOURCE_BSDIFF_XZ, std::move(*xz));
      }
      consider(Operation::SOURCE_BSDIFF, std::move(patch));
    }
    if (best.blob.size() * 2 <= probe_size) return best;
  }
  if (dense) return best;
  BASALT_ASSIGN_OR_RETURN(auto zstd, ZstdCompress(data, data.size() > kStrongWorkBytes / 2
                                                            ? std::min(level, kLargeWorkLevel)
                                                            : level));
  consider(Operation::REPLACE_ZSTD, std::move(zstd));
  // xz beats zstd by a few percent at best, and its decoder is slow; only for deltas.
  if (opt_.try_xz && data.size() <= kMaxXzBytes) {
    BASALT_ASSIGN_OR_RETURN(auto xz, XzCompress(data, opt_.xz_preset));
    consider(Operation::REPLACE_XZ, std::move(xz));
  }
  return best;
}

// Extents of a file operation from its segment's runs (the source ones only when the chosen
// operation reads the source, with the SHA-256 of the gathered source bytes).
void AttachRuns(PlannedOp& p, const Segment& seg, std::span<const uint8_t> source) {
  if (IsSourceOperation(p.op.type())) {
    for (auto [start, n] : seg.src_runs)
      AddExtent(p.op.mutable_src_extents(), start, n);
    p.op.set_src_sha256(DigestString(Sha256(source)));
  }
  for (auto [start, n] : seg.dst_runs)
    AddExtent(p.op.mutable_dst_extents(), start, n);
}

Result<PlannedOp> Generator::EncodeFile(const Segment& seg, size_t slot) {
  const std::vector<uint8_t> data = Gather(new_, seg.dst_runs);
  const std::vector<uint8_t> source = Gather(old_, seg.src_runs);
  const bool bsdiff = opt_.bsdiff == GenerateOptions::Bsdiff::kAll ||
                      (opt_.bsdiff == GenerateOptions::Bsdiff::kCode && seg.code);
  BASALT_ASSIGN_OR_RETURN(PlannedOp best,
                          ChooseSmallest(data, source, slot, opt_.zstd_level, bsdiff));
  AttachRuns(best, seg, source);
  return best;
}

void SetRegion(proto::Lz4Region* out, const Lz4Region& r) {
  out->set_offset(r.offset);
  out->set_compressed_length(r.compressed_length);
  out->set_decompressed_length(r.decompressed_length);
  out->set_level(static_cast<uint32_t>(r.level));
}

// A kernel pair: one SOURCE_LZ4_PATCH when both are LZ4 bzImages and liblz4 reproduces the
// new one's stream; otherwise the file in ordinary pieces, as kFile segments would be.
Result<std::vector<PlannedOp>> Generator::EncodeLz4File(const Segment& seg, size_t slot) {
  const std::vector<uint8_t> data = Gather(new_, seg.dst_runs);
  const std::vector<uint8_t> source = Gather(old_, seg.src_runs);
  auto try_lz4 = [&]() -> std::optional<PlannedOp> {
    auto dst_region = FindBzImageLz4(data);
    auto src_region = FindBzImageLz4(source);
    if (!dst_region || !src_region) return std::nullopt;
    auto dst_expanded = ExpandLz4Region(data, *dst_region);
    auto src_expanded = ExpandLz4Region(source, *src_region);
    if (!dst_expanded || !src_expanded) return std::nullopt;
    auto level = FindReproducingLevel(
        data, *dst_region,
        std::span(*dst_expanded).subspan(dst_region->offset, dst_region->decompressed_length));
    if (!level) {
      log_.Warn(
          fmt::format("kernel at block {}: liblz4 does not reproduce its LZ4 stream at any "
                      "level; diffing it compressed",
                      seg.start));
      return std::nullopt;
    }
    dst_region->level = *level;
    auto patch = ZstdCompress(*dst_expanded, opt_.zstd_level, *src_expanded);
    if (!patch) return std::nullopt;
    PlannedOp p;
    p.op.set_type(Operation::SOURCE_LZ4_PATCH);
    p.blob = std::move(*patch);
    // A kernel is recompiled code: on the OS pair's 53 MB kernels Debian's bsdiff with xz
    // streams makes 2.98 MB against zstd's 4.16 MB (bsdiff takes ~5 minutes and ~480 MB of its
    // own, on one core; the other segments go on meanwhile).
    if (opt_.bsdiff != GenerateOptions::Bsdiff::kOff && opt_.max_minor_version >= kMinorDelta4) {
      auto bs = BsdiffWithTool(*src_expanded, *dst_expanded, tmpdir_, slot);
      if (!bs.empty()) {
        auto xz = BsdiffToXz(bs, opt_.xz_preset);
        if (xz && xz->size() < p.blob.size()) {
          p.blob = std::move(*xz);
          p.op.set_expanded_patch(Operation::BSDIFF_XZ);
        }
      }
    }
    if (p.blob.size() >= data.size()) return std::nullopt;
    SetRegion(p.op.mutable_src_lz4(), *src_region);
    p.op.mutable_src_lz4()->set_level(0);
    SetRegion(p.op.mutable_dst_lz4(), *dst_region);
    p.op.set_dst_sha256(DigestString(Sha256(data)));
    return p;
  };
  std::vector<PlannedOp> out;
  if (auto p = try_lz4()) {
    AttachRuns(*p, seg, source);
    out.push_back(std::move(*p));
    return out;
  }
  // Fallback: the whole new file in pieces against the whole old file (which fits the source
  // limit, checked when planning).
  std::vector<uint64_t> dst_blocks;
  for (auto [start, n] : seg.dst_runs)
    for (uint64_t b = start; b < start + n; ++b)
      dst_blocks.push_back(b);
  for (size_t i = 0; i < dst_blocks.size(); i += kFileOpBlocks) {
    Segment piece{SegmentKind::kFile, dst_blocks[i],
                  std::min<size_t>(kFileOpBlocks, dst_blocks.size() - i)};
    piece.dst_runs = ToRuns(dst_blocks, i, i + piece.blocks);
    piece.src_runs = seg.src_runs;
    BASALT_ASSIGN_OR_RETURN(PlannedOp p, EncodeFile(piece, slot));
    out.push_back(std::move(p));
  }
  return out;
}

void SetGzipRegion(proto::GzipRegion* out, const GzipRegion& r) {
  for (const ByteRange& p : r.pieces) {
    auto* piece = out->add_pieces();
    piece->set_offset(p.offset);
    piece->set_length(p.length);
  }
  out->set_decompressed_length(r.decompressed_length);
  out->set_level(static_cast<uint32_t>(r.level));
}

// The decompressed length a member's trailer (ISIZE, the length mod 2^32) gives; the expansion
// then checks it. A trailer split across two pieces is rare and left to the ordinary diff.
std::optional<uint64_t> GzipIsize(std::span<const uint8_t> bytes, const GzipRegion& r) {
  const ByteRange& last = r.pieces.back();
  if (last.length < 4 || last.offset + last.length > bytes.size()) return std::nullopt;
  const uint8_t* p = bytes.data() + last.offset + last.length - 4;
  return static_cast<uint64_t>(p[0]) | static_cast<uint64_t>(p[1]) << 8 |
         static_cast<uint64_t>(p[2]) << 16 | static_cast<uint64_t>(p[3]) << 24;
}

// The regions whose members decompress (and, for the destination, that `gzip -n` reproduces),
// with their lengths and levels filled in; the others stay compressed bytes of the rest.
std::vector<GzipRegion> UsableGzipRegions(std::span<const uint8_t> bytes,
                                          std::vector<GzipRegion> regions, bool need_level) {
  std::vector<GzipRegion> out;
  uint64_t expanded = 0;
  for (GzipRegion& r : regions) {
    auto n = GzipIsize(bytes, r);
    if (!n || *n == 0 || *n > kMaxGzipExpandedBytes - expanded) continue;
    r.decompressed_length = *n;
    if (!CheckGzipRegions(std::span(&r, 1), bytes.size())) continue;
    std::vector<uint8_t> member;
    for (const ByteRange& p : r.pieces)
      member.insert(member.end(), bytes.begin() + static_cast<ptrdiff_t>(p.offset),
                    bytes.begin() + static_cast<ptrdiff_t>(p.offset + p.length));
    std::vector<uint8_t> text(r.decompressed_length);
    if (!GzipDecompress(member, text)) continue;
    if (need_level) {
      auto level = FindGzipLevel(member, text);
      if (!level) continue;
      r.level = *level;
    }
    expanded += r.decompressed_length;
    out.push_back(std::move(r));
  }
  return out;
}

// Gzip'd files: one SOURCE_GZIP_PATCH when `gzip -n` reproduces the new members and the patch of
// the decompressed forms is the smaller; otherwise one ordinary diff of the same blocks.
Result<PlannedOp> Generator::EncodeGzipFile(const Segment& seg, size_t slot) {
  const std::vector<uint8_t> data = Gather(new_, seg.dst_runs);
  const std::vector<uint8_t> source = Gather(old_, seg.src_runs);
  auto try_gzip = [&]() -> std::optional<PlannedOp> {
    auto dst = UsableGzipRegions(data, seg.dst_gzip, true);
    auto src = UsableGzipRegions(source, seg.src_gzip, false);
    if (dst.empty() || src.empty()) return std::nullopt;
    auto dst_expanded = ExpandGzipRegions(data, dst);
    auto src_expanded = ExpandGzipRegions(source, src);
    if (!dst_expanded || !src_expanded) return std::nullopt;
    auto patch = ZstdCompress(*dst_expanded, opt_.zstd_level, *src_expanded);
    if (!patch) return std::nullopt;
    PlannedOp p;
    p.op.set_type(Operation::SOURCE_GZIP_PATCH);
    p.blob = std::move(*patch);
    for (const GzipRegion& r : src)
      SetGzipRegion(p.op.add_src_gzip(), r);
    for (const GzipRegion& r : dst)
      SetGzipRegion(p.op.add_dst_gzip(), r);
    p.op.set_dst_sha256(DigestString(Sha256(data)));
    return p;
  };
  auto gz = try_gzip();
  PlannedOp best;
  // The compressed diff is only worth its time when the decompressed one did not shrink the
  // files to a small fraction (it nearly always does: a changelog's new entries).
  if (!gz || gz->blob.size() * 8 > data.size()) {
    BASALT_ASSIGN_OR_RETURN(best, ChooseSmallest(data, source, slot, opt_.zstd_level, false));
  }
  if (gz && (best.blob.empty() || gz->blob.size() < best.blob.size())) best = std::move(*gz);
  AttachRuns(best, seg, source);
  return best;
}

Result<std::vector<PlannedOp>> Generator::RunSegment(size_t index) {
  const Segment& seg = segments_[index];
  PlannedOp p;
  switch (seg.kind) {
    case SegmentKind::kZero:
      p.op.set_type(Operation::ZERO);
      AddExtent(p.op.mutable_dst_extents(), seg.start, seg.blocks);
      break;
    case SegmentKind::kCopy: {
      p.op.set_type(Operation::SOURCE_COPY);
      const Runs single = {{seg.start, seg.blocks}}, single_src = {{seg.src, seg.blocks}};
      const Runs& dst = seg.dst_runs.empty() ? single : seg.dst_runs;
      const Runs& src = seg.src_runs.empty() ? single_src : seg.src_runs;
      Hasher h(HashAlgorithm::kSha256);
      for (auto [start, n] : src) {
        AddExtent(p.op.mutable_src_extents(), start, n);
        h.Update(Blocks(old_, start, n));
      }
      for (auto [start, n] : dst)
        AddExtent(p.op.mutable_dst_extents(), start, n);
      Sha256Digest d;
      h.Final(d.data());
      p.op.set_src_sha256(DigestString(d));
      break;
    }
    case SegmentKind::kEncode: {
      BASALT_ASSIGN_OR_RETURN(p, Encode(seg, index));
      break;
    }
    case SegmentKind::kFile: {
      BASALT_ASSIGN_OR_RETURN(p, EncodeFile(seg, index));
      break;
    }
    case SegmentKind::kLz4File:
      return EncodeLz4File(seg, index);
    case SegmentKind::kGzipFile: {
      BASALT_ASSIGN_OR_RETURN(p, EncodeGzipFile(seg, index));
      break;
    }
  }
  std::vector<PlannedOp> out;
  out.push_back(std::move(p));
  return out;
}

Status Generator::WriteOutput(const std::string& blob_path, GenerateResult& result) {
  std::string manifest_bytes = manifest_.SerializeAsString();
  Header header;
  header.minor_version = minor_version_;
  header.manifest_size = manifest_bytes.size();
  // Signatures do not cover signatures_size, so the header can be signed before it is known.
  auto header_bytes = EncodeHeader(header);
  auto message = SignedMessage(
      header_bytes,
      std::span(reinterpret_cast<const uint8_t*>(manifest_bytes.data()), manifest_bytes.size()));
  std::vector<Signature> sigs;
  for (const auto& k : opt_.keys) {
    BASALT_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Load(k));
    BASALT_ASSIGN_OR_RETURN(auto sig, key.Sign(message));
    sigs.push_back(Signature{key.id(), std::move(sig)});
  }
  auto sig_bytes = EncodeSignatures(sigs);
  header.signatures_size = static_cast<uint32_t>(sig_bytes.size());
  header_bytes = EncodeHeader(header);

  const std::string tmp = opt_.output_path + ".tmp";
  BASALT_ASSIGN_OR_RETURN(UniqueFd out, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
  Hasher h(HashAlgorithm::kSha256);
  auto put = [&](std::span<const uint8_t> d) -> Status {
    h.Update(d);
    return WriteFull(out.get(), d, tmp);
  };
  BASALT_RETURN_IF_ERROR(put(header_bytes));
  BASALT_RETURN_IF_ERROR(put(
      std::span(reinterpret_cast<const uint8_t*>(manifest_bytes.data()), manifest_bytes.size())));
  BASALT_RETURN_IF_ERROR(put(sig_bytes));
  BASALT_ASSIGN_OR_RETURN(UniqueFd blobs, OpenFile(blob_path, O_RDONLY));
  std::vector<uint8_t> buf(1 << 20);
  while (true) {
    BASALT_ASSIGN_OR_RETURN(size_t n, ReadUpTo(blobs.get(), buf, blob_path));
    if (n == 0) break;
    BASALT_RETURN_IF_ERROR(put(std::span(buf.data(), n)));
  }
  if (fsync(out.get()) != 0) return FailErrno("fsync " + tmp);
  if (rename(tmp.c_str(), opt_.output_path.c_str()) != 0) {
    return FailErrno("rename " + tmp + " to " + opt_.output_path);
  }
  result.size = header.blobs_offset() + manifest_.blobs_size();
  h.Final(result.sha256.data());
  return {};
}

Result<GenerateResult> Generator::Run() {
  if (opt_.keys.empty())
    return Fail(ErrorKind::kInvalidInput, "at least one signing key is needed");
  // Load the keys first so a bad key fails before minutes of compression.
  for (const auto& k : opt_.keys)
    BASALT_RETURN_IF_ERROR(PrivateKey::Load(k));
  BASALT_RETURN_IF_ERROR(LoadInputs());
  auto started = std::chrono::steady_clock::now();

  manifest_.set_block_size(kBlockSize);
  manifest_.set_version(new_info_.version);
  manifest_.set_created(opt_.created.value_or(static_cast<uint64_t>(time(nullptr))));
  part_ = manifest_.add_partitions();
  part_->set_name("usr");
  part_->set_new_size(new_info_.size);
  part_->set_new_sha256(DigestString(new_info_.sha256));
  auto* v = part_->mutable_verity();
  v->set_hash_algorithm(new_info_.hash_algorithm);
  v->set_salt(std::string(new_info_.salt.begin(), new_info_.salt.end()));
  v->set_data_block_size(new_info_.data_block_size);
  v->set_hash_block_size(new_info_.hash_block_size);
  v->set_data_blocks(new_info_.data_blocks);
  v->set_hash_offset(new_info_.hash_offset);
  v->set_root_hash(std::string(new_info_.root_hash.begin(), new_info_.root_hash.end()));
  v->set_has_superblock(has_superblock_);
  if (old_info_) {
    manifest_.set_from_version(old_info_->version);
    part_->set_old_size(old_info_->size);
    part_->set_old_sha256(DigestString(old_info_->sha256));
    part_->set_old_root_hash(std::string(old_info_->root_hash.begin(), old_info_->root_hash.end()));
    // image.json's hash is trusted for the manifest; make sure it describes this file.
    if (Sha256(old_) != old_info_->sha256) {
      return Failf(ErrorKind::kIntegrity, "{}: SHA-256 differs from its image.json",
                   old_info_->path);
    }
    if (opt_.gzip_files && opt_.max_minor_version >= kMinorDelta4) {
      if (auto s = CheckGzipMatchesHosts(); s) {
        gzip_tool_ = true;
      } else {
        log_.Warn(s.error().message() + "; gzip'd files are diffed compressed (larger delta)");
      }
    }
    PlanDelta();
  } else {
    PlanFull();
  }
  if (Sha256(new_) != new_info_.sha256) {
    return Failf(ErrorKind::kIntegrity, "{}: SHA-256 differs from its image.json", new_info_.path);
  }

  std::filesystem::path out_dir = std::filesystem::path(opt_.output_path).parent_path();
  if (out_dir.empty()) out_dir = ".";
  tmpdir_ = out_dir.string();
  const std::string blob_path = opt_.output_path + ".blobs.tmp";
  BASALT_ASSIGN_OR_RETURN(UniqueFd blob_fd,
                          OpenFile(blob_path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  struct Unlinker {
    std::string path;
    ~Unlinker() { unlink(path.c_str()); }
  } unlink_blobs{blob_path};

  GenerateResult result;
  uint64_t blob_offset = 0;
  unsigned threads =
      opt_.threads ? opt_.threads : std::max(1u, std::thread::hardware_concurrency());
  std::function<Result<std::vector<PlannedOp>>(size_t)> run = [this](size_t i) {
    return RunSegment(i);
  };
  std::function<Status(size_t, std::vector<PlannedOp> &&)> consume =
      [&](size_t, std::vector<PlannedOp>&& ops) -> Status {
    for (PlannedOp& p : ops) {
      if (!p.blob.empty()) {
        p.op.set_data_offset(blob_offset);
        p.op.set_data_length(p.blob.size());
        p.op.set_data_sha256(DigestString(Sha256(p.blob)));
        BASALT_RETURN_IF_ERROR(WriteFull(blob_fd.get(), p.blob, blob_path));
        blob_offset += p.blob.size();
      }
      minor_version_ = std::max(minor_version_, MinorVersionFor(p.op));
      auto& st = result.ops[std::string(OperationTypeName(p.op.type()))];
      st.count++;
      st.data_bytes += p.blob.size();
      st.dst_bytes += ExtentBlocks(p.op.dst_extents()) * kBlockSize;
      *part_->add_operations() = std::move(p.op);
    }
    return {};
  };
  // Deltas declare at least kMinorDelta (what they always declared); kMinorDelta3 only when an
  // operation needs it, so deltas without kernels stay appliable by older hosts.
  minor_version_ = old_info_ ? kMinorDelta : kMinorFull;
  BASALT_RETURN_IF_ERROR(RunOrdered(segments_.size(), threads, threads * 4, run, consume));
  manifest_.set_blobs_size(blob_offset);
  if (fsync(blob_fd.get()) != 0) return FailErrno("fsync " + blob_path);
  // Never emit a payload our own applier would refuse.
  if (auto s = ValidateManifest(manifest_, minor_version_); !s) {
    return Fail(ErrorKind::kInternal,
                "generated manifest is invalid (bug): " + s.error().message());
  }

  result.path = opt_.output_path;
  result.is_delta = old_info_.has_value();
  result.to_version = new_info_.version;
  if (old_info_) {
    result.from_version = old_info_->version;
    result.from_root_hash = ToHex(old_info_->root_hash);
  }
  BASALT_RETURN_IF_ERROR(WriteOutput(blob_path, result));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
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
